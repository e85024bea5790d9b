// A loopback metadata quorum in one process for the quorum tests: real RaftNodes over gRPC,
// LevelDB in a temp dir per member, fixed ports (a member restarts at the same address and
// data dir), and a fleet of simulated brokers that register and heartbeat through whichever
// member is the active controller.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SeededRandom } from "@castle/common";
import { MetadataQuorum, type MetadataQuorumOptions } from "@castle/metadata";
import { freePort, waitUntil } from "@castle/testkit";

export const QUORUM_CLUSTER_ID = "quorum-test-cluster";

export { freePort };

/** Polls `probe` every 10 ms until it returns a value other than undefined/false; fails after timeoutMs. */
export function waitFor<T>(probe: () => T | undefined | false, what: string, timeoutMs = 10_000): Promise<T> {
  return waitUntil(probe, what, timeoutMs, 10);
}

export interface HarnessOptions {
  readonly voters: readonly number[];
  readonly observers?: readonly number[];
  readonly snapshotEveryEntries: number;
  readonly brokerSessionTimeoutMs: number;
}

export class QuorumHarness {
  readonly members = new Map<number, MetadataQuorum>();

  private constructor(
    readonly root: string,
    readonly peers: Record<number, string>,
    private readonly options: HarnessOptions,
  ) {}

  static async start(options: HarnessOptions): Promise<QuorumHarness> {
    const root = await mkdtemp(join(tmpdir(), "castle-metadata-quorum-"));
    const ids = [...options.voters, ...(options.observers ?? [])];
    const peers: Record<number, string> = {};
    for (const id of ids) peers[id] = `127.0.0.1:${await freePort()}`;
    const harness = new QuorumHarness(root, peers, options);
    await Promise.all(ids.map((id) => harness.startMember(id)));
    return harness;
  }

  memberOptions(id: number): MetadataQuorumOptions {
    return {
      nodeId: id,
      clusterId: QUORUM_CLUSTER_ID,
      dataDir: join(this.root, `node-${id}`),
      listen: { host: "127.0.0.1", port: Number((this.peers[id] ?? "").split(":")[1]) },
      peers: this.peers,
      voters: this.options.voters,
      observers: this.options.observers ?? [],
      controller: { brokerSessionTimeoutMs: this.options.brokerSessionTimeoutMs },
      raftTickMs: 20,
      raftElectionTicks: 10,
      raftHeartbeatTicks: 1,
      raftRequestTimeoutMs: 3_000,
      snapshotEveryEntries: this.options.snapshotEveryEntries,
      controllerTickIntervalMs: 50,
      leadershipPollIntervalMs: 10,
    };
  }

  async startMember(id: number): Promise<MetadataQuorum> {
    const member = await MetadataQuorum.start(this.memberOptions(id), { random: new SeededRandom(id * 7919) });
    this.members.set(id, member);
    return member;
  }

  async stopMember(id: number): Promise<void> {
    await this.members.get(id)?.close();
    this.members.delete(id);
  }

  member(id: number): MetadataQuorum {
    const member = this.members.get(id);
    if (!member) throw new Error(`member ${id} is not running`);
    return member;
  }

  /** The one active controller every running member names. */
  active(): MetadataQuorum | undefined {
    const running = [...this.members.values()];
    const active = running.filter((m) => m.isActiveController);
    const [only] = active;
    if (active.length !== 1 || !only) return undefined;
    return running.every((m) => m.controllerId === only.nodeId) ? only : undefined;
  }

  waitForActive(timeoutMs = 10_000): Promise<MetadataQuorum> {
    return waitFor(() => this.active(), "one active controller all running members agree on", timeoutMs);
  }

  async close(): Promise<void> {
    await Promise.all([...this.members.values()].map((m) => m.close()));
    this.members.clear();
    await rm(this.root, { recursive: true, force: true });
  }
}

/**
 * Simulated brokers (the broker processes of a real cluster): each registers once, then
 * heartbeats every `heartbeatMs` through the current active controller with the metadata
 * offset that member has applied. Errors (no active controller during a failover) are
 * ignored: the next beat tries again, as a broker would.
 */
export class BrokerFleet {
  readonly epochs = new Map<number, number>();
  private readonly paused = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private beating = false;

  constructor(
    private readonly harness: QuorumHarness,
    readonly heartbeatMs: number,
  ) {}

  async register(brokerId: number): Promise<number> {
    const active = await this.harness.waitForActive();
    const { brokerEpoch } = await active.registerBroker({
      brokerId,
      clusterId: QUORUM_CLUSTER_ID,
      incarnationId: `incarnation-${brokerId}`,
      endpoints: [{ name: "CLIENT", host: "127.0.0.1", port: 19_000 + brokerId }],
      rack: null,
    });
    this.epochs.set(brokerId, brokerEpoch);
    return brokerEpoch;
  }

  start(): void {
    this.timer = setInterval(() => void this.beat(), this.heartbeatMs);
  }

  pause(brokerId: number): void {
    this.paused.add(brokerId);
  }

  resume(brokerId: number): void {
    this.paused.delete(brokerId);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async beat(): Promise<void> {
    if (this.beating) return;
    this.beating = true;
    try {
      // A broker asks around until it finds the active controller; it need not wait for every member to agree.
      const active = [...this.harness.members.values()].find((m) => m.isActiveController);
      if (!active) return;
      for (const [brokerId, brokerEpoch] of this.epochs) {
        if (this.paused.has(brokerId)) continue;
        await active
          .brokerHeartbeat({ brokerId, brokerEpoch, metadataOffset: active.image.offset, wantShutdown: false })
          .catch(() => undefined);
      }
    } finally {
      this.beating = false;
    }
  }
}

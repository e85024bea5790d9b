// A loopback cluster of RaftNodes in one process for the node tests: fixed ports (so a node
// restarts at the same address), LevelDB in a temp dir per node, a list state machine.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SeededRandom } from "@castle/common";
import { freePort, waitUntil } from "@castle/testkit";
import { Registry } from "prom-client";
import type { Entry } from "../../src/core/types.js";
import { RaftNode, type RaftStateMachine } from "../../src/node/raft-node.js";

/** Applies entries to a list of strings; snapshots are the JSON of the list. */
export class ListStateMachine implements RaftStateMachine {
  items: string[] = [];
  lastApplied = 0;
  restores = 0;
  apply(entries: readonly Entry[]): void {
    for (const entry of entries) {
      if (entry.index <= this.lastApplied) throw new Error(`entry ${entry.index} applied twice`);
      this.lastApplied = entry.index;
      this.items.push(new TextDecoder().decode(entry.data));
    }
  }
  async snapshot(): Promise<Uint8Array> {
    return new TextEncoder().encode(JSON.stringify({ items: this.items, lastApplied: this.lastApplied }));
  }
  async restore(data: Uint8Array): Promise<void> {
    this.restores++;
    if (data.length === 0) {
      this.items = [];
      this.lastApplied = 0;
      return;
    }
    const state = JSON.parse(new TextDecoder().decode(data)) as { items: string[]; lastApplied: number };
    this.items = state.items;
    this.lastApplied = state.lastApplied;
  }
}

export { freePort };

/** Polls `probe` every 10 ms until it returns a value other than undefined/false; fails after timeoutMs. */
export function waitFor<T>(probe: () => T | undefined | false, what: string, timeoutMs = 10_000): Promise<T> {
  return waitUntil(probe, what, timeoutMs, 10);
}

export interface ClusterOptions {
  readonly voters: readonly number[];
  readonly observers?: readonly number[];
  readonly snapshotEveryEntries?: number;
  readonly snapshotEveryBytes?: number;
  readonly tickMs?: number;
}

export class TestCluster {
  readonly nodes = new Map<number, RaftNode>();
  readonly machines = new Map<number, ListStateMachine>();
  readonly registries = new Map<number, Registry>();
  private constructor(
    readonly root: string,
    readonly peers: Record<number, string>,
    private readonly options: ClusterOptions,
  ) {}

  static async start(options: ClusterOptions): Promise<TestCluster> {
    const root = await mkdtemp(join(tmpdir(), "castle-raft-node-"));
    const ids = [...options.voters, ...(options.observers ?? [])];
    const peers: Record<number, string> = {};
    for (const id of ids) peers[id] = `127.0.0.1:${await freePort()}`;
    const cluster = new TestCluster(root, peers, options);
    await Promise.all(ids.map((id) => cluster.startNode(id)));
    return cluster;
  }

  async startNode(id: number): Promise<RaftNode> {
    const address = this.peers[id] ?? "";
    const port = Number(address.split(":")[1]);
    const machine = new ListStateMachine();
    const registry = new Registry();
    const node = await RaftNode.start({
      id,
      dataDir: join(this.root, `node-${id}`),
      listen: { host: "127.0.0.1", port },
      peers: this.peers,
      voters: this.options.voters,
      observers: this.options.observers ?? [],
      tickMs: this.options.tickMs ?? 20,
      electionTicks: 10,
      heartbeatTicks: 1,
      snapshotEveryEntries: this.options.snapshotEveryEntries ?? 0,
      snapshotEveryBytes: this.options.snapshotEveryBytes ?? 0,
      requestTimeoutMs: 5_000,
      stateMachine: machine,
      random: new SeededRandom(id * 7919),
      metricsRegistry: registry,
    });
    this.nodes.set(id, node);
    this.machines.set(id, machine);
    this.registries.set(id, registry);
    return node;
  }

  async stopNode(id: number): Promise<void> {
    await this.nodes.get(id)?.close();
    this.nodes.delete(id);
  }

  /** The one leader all running voters agree on. */
  leader(): RaftNode | undefined {
    const running = [...this.nodes.values()];
    const leaders = running.filter((n) => n.status().role === "leader");
    if (leaders.length !== 1) return undefined;
    const leader = leaders[0];
    if (!leader) return undefined;
    const term = leader.status().term;
    return running.every((n) => n.status().leaderId === leader.id && n.status().term === term) ? leader : undefined;
  }

  waitForLeader(timeoutMs = 10_000): Promise<RaftNode> {
    return waitFor(() => this.leader(), "one leader all running nodes agree on", timeoutMs);
  }

  async close(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((n) => n.close()));
    this.nodes.clear();
    await rm(this.root, { recursive: true, force: true });
  }
}

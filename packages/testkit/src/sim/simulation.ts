// A whole simulated Raft cluster built from one seed: the nodes (cores, disks, state
// machines, skewed clocks), the network and the safety checker, all driven by one event
// queue. Scenario tests script it directly (partition, crash, propose, runUntil); the seeded
// chaos run (run-seed.ts) drives it with random faults. Every step (one event) is followed by
// the checkers; any error becomes a SimulationFailure carrying the seed, the command that
// replays it and the recent trace.

import { SeededRandom } from "@castle/common";
import {
  bootstrapSnapshot,
  type ConfChange,
  type ConfState,
  type Entry,
  MemoryRaftStorage,
  type Message,
  type ProposeResult,
  type RaftNodeId,
  type ReadIndexResult,
  type TransferResult,
} from "@castle/raft";
import { EventQueue } from "./event-queue.js";
import { SafetyChecker } from "./safety-checker.js";
import { type NetworkFaults, RELIABLE_NETWORK, SimNetwork } from "./sim-network.js";
import { SimNode, type SimRaftConfig, type SnapshotPolicy } from "./sim-node.js";
import { Trace } from "./trace.js";

export interface SimulationOptions {
  readonly seed: number;
  readonly voters?: number;
  readonly observers?: number;
  readonly raft?: Partial<SimRaftConfig>;
  /** Nominal milliseconds between ticks. */
  readonly tickMs?: number;
  /** Each node's tick period is tickMs * (1 ± clockSkew), drawn from the seed. */
  readonly clockSkew?: number;
  readonly network?: NetworkFaults;
  readonly snapshots?: SnapshotPolicy;
  readonly traceLinesMax?: number;
  /** Verbose runs: every trace line as it happens. */
  readonly traceSink?: (line: string) => void;
  /** Re-check log matching over every storage after this many steps (and at the end). */
  readonly fullCheckEverySteps?: number;
  /** The command a failure report prints to replay this run. */
  readonly reproduce?: string;
  /**
   * How the initial members learn the membership. "snapshot" (default): every member starts
   * from a snapshot at index 1/term 1 holding the configuration, so a node added later gets it
   * by InstallSnapshot. "conf-state": MemoryRaftStorage({confState}) only, nothing in the log
   * (see the "bootstrap" scenario: a node added later then never learns the initial members).
   */
  readonly bootstrap?: "snapshot" | "conf-state";
}

export const DEFAULT_RAFT: SimRaftConfig = {
  electionTicks: 10,
  heartbeatTicks: 2,
  preVote: true,
  checkQuorum: true,
  appendBytesMax: 1024,
  inflightAppendsMax: 4,
  snapshotChunkBytes: 256,
};

export class SimulationFailure extends Error {
  constructor(
    readonly seed: number,
    readonly reproduce: string,
    readonly traceLines: readonly string[],
    readonly error: unknown,
    readonly timeMs: number,
  ) {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    super(
      [
        `simulation failed: seed ${seed} at t=${timeMs}: ${reason}`,
        `reproduce: ${reproduce}`,
        `last ${traceLines.length} trace lines:`,
        ...traceLines.map((line) => `  ${line}`),
        `(seed ${seed}: ${reason})`,
      ].join("\n"),
    );
    this.name = "SimulationFailure";
  }
}

export class Simulation {
  readonly seed: number;
  readonly queue = new EventQueue();
  readonly trace: Trace;
  readonly checker = new SafetyChecker();
  readonly network: SimNetwork;
  /** The chaos/workload stream: separate from the network's and the nodes', so each stays stable. */
  readonly random: SeededRandom;
  readonly nodes = new Map<RaftNodeId, SimNode>();
  readonly raft: SimRaftConfig;
  nowMs = 0;
  steps = 0;
  /** Committed entries in apply order, by the first node to apply them (index -> entry). */
  readonly committed = new Map<number, Entry>();
  /** Called for every entry any node applies (the chaos driver watches conf changes here). */
  onApply: ((node: SimNode, entry: Entry) => void) | undefined;
  private readonly nodeRandom: SeededRandom;
  private readonly tickMs: number;
  private readonly clockSkew: number;
  private readonly snapshots: SnapshotPolicy;
  private readonly fullCheckEverySteps: number;
  private readonly reproduce: string;
  private readonly idsInOrder: RaftNodeId[] = [];
  private readSequence = 0;
  private failure: SimulationFailure | undefined;
  private readonly bootstrap: "snapshot" | "conf-state";

  constructor(options: SimulationOptions) {
    this.seed = options.seed;
    const root = new SeededRandom(options.seed);
    this.random = new SeededRandom(root.int(2 ** 32));
    const networkRandom = new SeededRandom(root.int(2 ** 32));
    this.nodeRandom = new SeededRandom(root.int(2 ** 32));
    this.raft = { ...DEFAULT_RAFT, ...options.raft };
    this.tickMs = options.tickMs ?? 10;
    this.clockSkew = options.clockSkew ?? 0.2;
    this.snapshots = options.snapshots ?? { everyEntries: 0, keepEntries: 0 };
    this.fullCheckEverySteps = options.fullCheckEverySteps ?? 500;
    this.reproduce = options.reproduce ?? `npm run sim -- --seed ${options.seed}`;
    this.trace = new Trace(options.traceLinesMax ?? 400, options.traceSink);
    this.network = new SimNetwork(
      {
        queue: this.queue,
        random: networkRandom,
        trace: this.trace,
        now: () => this.nowMs,
        refusal: (m) => this.refusal(m),
        deliver: (m) => this.deliver(m),
      },
      options.network ?? RELIABLE_NETWORK,
    );
    const voterCount = options.voters ?? 3;
    const observerCount = options.observers ?? 0;
    const voters = range(1, voterCount);
    const observers = range(voterCount + 1, observerCount);
    const confState: ConfState = { voters, observers };
    this.bootstrap = options.bootstrap ?? "snapshot";
    for (const id of [...voters, ...observers]) this.addNode(id, confState);
  }

  // ---- building ----

  /** A new server. With a confState it is a bootstrap member; without, it joins empty and learns the cluster from its leader. */
  addNode(id: RaftNodeId, confState?: ConfState): SimNode {
    if (this.nodes.has(id)) throw new Error(`node ${id} exists`);
    const jitter = this.nodeRandom.next() * 2 - 1;
    const period = Math.max(1, Math.round(this.tickMs * (1 + this.clockSkew * jitter)));
    const node = new SimNode(id, this.initialStorage(confState), new SeededRandom(this.nodeRandom.int(2 ** 32)), this.snapshots, period, {
      raft: this.raft,
      checker: this.checker,
      trace: this.trace,
      now: () => this.nowMs,
      send: (m) => this.network.send(m),
      onApply: (n, entry) => {
        if (!this.committed.has(entry.index)) this.committed.set(entry.index, entry);
        this.onApply?.(n, entry);
      },
    });
    this.nodes.set(id, node);
    this.idsInOrder.push(id);
    this.trace.event(this.nowMs, id, `added tickPeriod=${period}ms${confState === undefined ? " (joining empty)" : ""}`);
    // Start ticking at a random phase so nodes do not tick in lockstep.
    this.scheduleTick(node, this.nowMs + 1 + this.nodeRandom.int(period));
    return node;
  }

  node(id: RaftNodeId): SimNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  /** Node ids in creation order (deterministic iteration). */
  get ids(): readonly RaftNodeId[] {
    return this.idsInOrder;
  }

  upNodes(): SimNode[] {
    return this.idsInOrder.map((id) => this.node(id)).filter((n) => n.up);
  }

  /** The up node that is leader in the highest term, if any. */
  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const node of this.upNodes()) {
      if (node.role === "leader" && (best === undefined || node.term > best.term)) best = node;
    }
    return best;
  }

  /** The leader, once every up member it can talk to agrees on it (same id, same term). */
  stableLeader(): SimNode | undefined {
    const leader = this.leader();
    if (leader === undefined) return undefined;
    for (const node of this.upNodes()) {
      if (!node.isMember || !leader.confState.voters.concat(leader.confState.observers).includes(node.id)) continue;
      if (this.network.isBlocked(leader.id, node.id) || this.network.isBlocked(node.id, leader.id)) continue;
      if (node.leaderId !== leader.id || node.term !== leader.term) return undefined;
    }
    return leader;
  }

  // ---- running ----

  /** Run every event up to now + ms. */
  runFor(ms: number): void {
    this.runUntil(() => false, ms);
  }

  /** Run until `done()` holds (checked after every step) or `timeoutMs` passes; true if done. */
  runUntil(done: () => boolean, timeoutMs: number): boolean {
    const deadline = this.nowMs + timeoutMs;
    this.guard(() => this.checkStep());
    if (done()) return true;
    for (;;) {
      const next = this.queue.peekTimeMs();
      if (next === undefined || next > deadline) {
        this.nowMs = deadline;
        return false;
      }
      const event = this.queue.pop()!;
      this.nowMs = event.timeMs;
      this.steps++;
      this.guard(() => {
        event.run();
        this.checkStep();
        if (this.steps % this.fullCheckEverySteps === 0) this.fullCheck();
      });
      if (done()) return true;
    }
  }

  /** Schedule `run` at now + delayMs (scenario and chaos actions go through the same queue). */
  at(delayMs: number, run: () => void): void {
    this.queue.push(this.nowMs + delayMs, run);
  }

  checkStep(): void {
    const views = [];
    for (const id of this.idsInOrder) {
      const node = this.node(id);
      if (node.up)
        views.push({
          id,
          role: node.role,
          term: node.term,
          commit: node.commit,
          isObserver: node.isObserver,
          storage: node.storage,
        });
    }
    this.checker.checkStep(views);
  }

  fullCheck(): void {
    this.guard(() => this.checker.fullCheck(this.idsInOrder.map((id) => ({ id, storage: this.node(id).storage }))));
  }

  /** Wrap any error (checker, core invariant, driver) into a SimulationFailure with the seed and the trace. */
  guard(run: () => void): void {
    if (this.failure !== undefined) throw this.failure;
    try {
      run();
    } catch (error) {
      this.failure =
        error instanceof SimulationFailure
          ? error
          : new SimulationFailure(this.seed, this.reproduce, this.trace.lines(200), error, this.nowMs);
      throw this.failure;
    }
  }

  /** Fail the run on a liveness or scenario expectation (same report as a safety failure). */
  fail(reason: string): never {
    this.guard(() => {
      throw new Error(reason);
    });
    throw new Error("unreachable");
  }

  // ---- client and operator actions (applied at once, at the current time) ----

  /** Propose `value` at node `to` (default: the current leader). */
  propose(value: string, to?: RaftNodeId): ProposeResult {
    return this.atNode(to, (node) => node.core.propose(new TextEncoder().encode(value)));
  }

  proposeConfChange(change: ConfChange, to?: RaftNodeId): ProposeResult {
    return this.atNode(to, (node) => {
      this.trace.event(this.nowMs, node.id, `propose conf change ${change.type} n${change.nodeId}`);
      return node.core.proposeConfChange(change);
    });
  }

  /** Ask for a ReadIndex; returns the request id (checked by the linearizable-read checker). */
  readIndex(to?: RaftNodeId): { requestId: string; result: ReadIndexResult } {
    const requestId = `r${++this.readSequence}`;
    const result = this.atNode(to, (node) => {
      this.checker.onReadIndexAsked(requestId);
      return node.core.readIndex(requestId);
    });
    return { requestId, result };
  }

  transferLeadership(target: RaftNodeId, via?: RaftNodeId): TransferResult {
    return this.atNode(via, (node) => {
      this.trace.event(this.nowMs, node.id, `transfer leadership to n${target}`);
      return node.core.transferLeadership(target);
    });
  }

  /** Make `id` campaign now (a test hook; etcd's MsgHup). */
  campaign(id: RaftNodeId): void {
    this.atNode(id, (node) => node.core.campaign());
  }

  crash(id: RaftNodeId, reason = "scheduled"): void {
    this.guard(() => this.node(id).crash(reason));
  }

  restart(id: RaftNodeId): void {
    this.guard(() => this.node(id).restart());
  }

  retire(id: RaftNodeId): void {
    this.guard(() => this.node(id).retire());
  }

  /** The node stops ticking and taking messages for `ms` (messages wait), like a long GC pause. */
  pause(id: RaftNodeId, ms: number): void {
    const node = this.node(id);
    node.pausedUntilMs = Math.max(node.pausedUntilMs, this.nowMs + ms);
    this.trace.event(this.nowMs, id, `paused until t=${node.pausedUntilMs}`);
  }

  /** Symmetric partition between groups: nodes in different groups cannot talk. */
  partition(...groups: ReadonlyArray<readonly RaftNodeId[]>): void {
    for (const [i, a] of groups.entries()) for (const b of groups.slice(i + 1)) this.network.partition(a, b);
    this.trace.event(this.nowMs, 0, `partition ${groups.map((g) => `{${g.map((id) => `n${id}`).join(",")}}`).join(" | ")}`);
  }

  /** Cut `id` off from every other node. */
  isolate(id: RaftNodeId): void {
    this.network.isolate(
      id,
      this.idsInOrder.filter((other) => other !== id),
    );
    this.trace.event(this.nowMs, 0, `isolate n${id}`);
  }

  /** One-way: messages from -> to are lost, to -> from still arrive. */
  block(from: RaftNodeId, to: RaftNodeId): void {
    this.network.block(from, to);
    this.trace.event(this.nowMs, 0, `block n${from} -> n${to}`);
  }

  heal(): void {
    this.network.healPartitions();
    this.trace.event(this.nowMs, 0, "heal partitions");
  }

  setNetwork(faults: NetworkFaults): void {
    this.network.faults = faults;
  }

  // ---- observations ----

  /** Values (proposed strings) node `id` has applied, in order. */
  applied(id: RaftNodeId): readonly string[] {
    return this.node(id).stateMachine.values;
  }

  private atNode<T>(id: RaftNodeId | undefined, run: (node: SimNode) => T): T {
    const node = id === undefined ? this.leader() : this.node(id);
    if (node === undefined) throw new Error("no leader to ask");
    if (!node.up) throw new Error(`n${node.id} is ${node.state}`);
    let result: T | undefined;
    this.guard(() => {
      result = run(node);
      node.handleReady();
      this.checkStep();
    });
    return result as T;
  }

  private initialStorage(confState: ConfState | undefined): MemoryRaftStorage {
    if (confState === undefined) return new MemoryRaftStorage();
    if (this.bootstrap === "conf-state") return new MemoryRaftStorage({ confState });
    // The core's bootstrap snapshot, carrying this simulator's empty state-machine image.
    const boot = bootstrapSnapshot(confState);
    const image = new TextEncoder().encode(JSON.stringify({ index: boot.meta.index, term: boot.meta.term, hash: 0, values: [] }));
    return new MemoryRaftStorage({
      hardState: { term: boot.meta.term, vote: 0, commit: boot.meta.index },
      snapshot: { meta: boot.meta, data: image },
    });
  }

  private scheduleTick(node: SimNode, atMs: number): void {
    this.queue.push(atMs, () => {
      if (node.state === "retired") return;
      if (node.up && this.nowMs >= node.pausedUntilMs) node.tick();
      this.scheduleTick(node, this.nowMs + node.tickPeriodMs);
    });
  }

  private refusal(message: Message): string {
    const node = this.nodes.get(message.to);
    if (node === undefined) return "no such node";
    if (node.state !== "up") return node.state;
    return "";
  }

  private deliver(message: Message): void {
    const node = this.node(message.to);
    if (this.nowMs < node.pausedUntilMs) {
      const incarnation = node.incarnation;
      this.queue.push(node.pausedUntilMs, () => {
        if (node.up && node.incarnation === incarnation) this.deliver(message);
      });
      return;
    }
    node.step(message);
  }
}

function range(first: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => first + i);
}

// A tiny deterministic in-test network for RaftCore: each node persists its Ready to a
// MemoryRaftStorage in the contract's order (snapshot, entries, hardState), then its
// messages go into one FIFO queue, then it applies and advances. Links can be cut.

import { SeededRandom } from "@castle/common";
import {
  type ConfState,
  type Entry,
  EntryType,
  MemoryRaftStorage,
  type Message,
  type RaftConfig,
  RaftCore,
  type RaftNodeId,
  type ReadState,
} from "../../src/index.js";

/** Steps one stabilize() may take before the test is declared stuck. */
const STABILIZE_STEPS_MAX = 100_000;

export interface TestNode {
  readonly id: RaftNodeId;
  core: RaftCore;
  storage: MemoryRaftStorage;
  /** Normal entries with data the state machine applied, in order. */
  applied: Entry[];
  readStates: ReadState[];
  /** The node's applied index (what a real state machine has). */
  appliedIndex: number;
}

export interface ClusterOptions {
  readonly voters: readonly RaftNodeId[];
  readonly observers?: readonly RaftNodeId[];
  /** Nodes to create that are not in the initial configuration (joining later, booted with it). */
  readonly extra?: readonly RaftNodeId[];
  readonly seed?: number;
  readonly config?: Partial<Omit<RaftConfig, "id" | "random">>;
}

export const DEFAULT_CONFIG: Omit<RaftConfig, "id" | "random"> = {
  electionTicks: 10,
  heartbeatTicks: 2,
  preVote: true,
  checkQuorum: true,
  appendBytesMax: 1024 * 1024,
  inflightAppendsMax: 8,
  snapshotChunkBytes: 1024,
};

export class Cluster {
  readonly nodes = new Map<RaftNodeId, TestNode>();
  readonly queue: Message[] = [];
  /** Messages delivered, by type, since the last resetCounts(). */
  delivered = new Map<Message["type"], number>();
  private readonly cut = new Set<string>();
  /** Optional rewrite of every sent message: return undefined to drop it. */
  transform: ((m: Message) => Message | undefined) | undefined = undefined;
  private readonly random: SeededRandom;

  constructor(readonly options: ClusterOptions) {
    this.random = new SeededRandom(options.seed ?? 1);
    const confState: ConfState = { voters: options.voters, observers: options.observers ?? [] };
    for (const id of [...options.voters, ...(options.observers ?? [])]) this.add(id, new MemoryRaftStorage({ confState }));
    // Joining nodes boot with the cluster's initial configuration (not including themselves):
    // later changes are deltas in the log, so the bootstrap state must be the same everywhere.
    for (const id of options.extra ?? []) this.add(id, new MemoryRaftStorage({ confState }));
  }

  config(id: RaftNodeId): RaftConfig {
    return { ...DEFAULT_CONFIG, ...this.options.config, id, random: new SeededRandom(this.random.int(2 ** 31) + id) };
  }

  add(id: RaftNodeId, storage: MemoryRaftStorage, core?: RaftCore): TestNode {
    const node: TestNode = {
      id,
      storage,
      core: core ?? new RaftCore(this.config(id), storage),
      applied: [],
      readStates: [],
      appliedIndex: storage.firstIndex() - 1,
    };
    this.nodes.set(id, node);
    return node;
  }

  node(id: RaftNodeId): TestNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  core(id: RaftNodeId): RaftCore {
    return this.node(id).core;
  }

  /** The driver's log compaction: snapshot the state machine at its applied index, then drop the log up to it. */
  compact(id: RaftNodeId, data: Uint8Array): void {
    const node = this.node(id);
    node.storage.createSnapshot(node.appliedIndex, node.core.status().confState, data);
    node.storage.compact(node.appliedIndex);
  }

  /** Crash and restart from what survived on disk (a clone of storage). */
  restart(id: RaftNodeId): TestNode {
    const old = this.node(id);
    const storage = old.storage.clone();
    const node = this.add(id, storage);
    this.dropQueuedFor(id);
    return node;
  }

  isolate(id: RaftNodeId): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}-${other}`);
      this.cut.add(`${other}-${id}`);
    }
  }

  cutLink(from: RaftNodeId, to: RaftNodeId): void {
    this.cut.add(`${from}-${to}`);
  }

  heal(): void {
    this.cut.clear();
  }

  resetCounts(): void {
    this.delivered = new Map();
  }

  count(type: Message["type"]): number {
    return this.delivered.get(type) ?? 0;
  }

  /** Runs one node's Ready cycle per the contract; returns whether there was one. */
  processReady(id: RaftNodeId): boolean {
    const node = this.node(id);
    if (!node.core.hasReady()) return false;
    const ready = node.core.ready();
    if (ready.snapshot !== undefined) node.storage.applySnapshot(ready.snapshot);
    node.storage.append(ready.entries);
    if (ready.hardState !== undefined) node.storage.setHardState(ready.hardState);
    for (const sent of ready.messages) {
      const message = this.transform === undefined ? sent : this.transform(sent);
      if (message === undefined || this.cut.has(`${message.from}-${message.to}`)) continue;
      this.queue.push(message);
    }
    if (ready.snapshot !== undefined) {
      node.appliedIndex = ready.snapshot.meta.index;
      node.applied = [];
    }
    for (const entry of ready.committedEntries) {
      if (entry.type === EntryType.Normal && entry.data.length > 0) node.applied.push(entry);
      node.appliedIndex = entry.index;
    }
    node.readStates.push(...ready.readStates);
    node.core.advance(ready);
    return true;
  }

  /** Delivers one queued message; false if the queue is empty. */
  deliverOne(): boolean {
    const message = this.queue.shift();
    if (message === undefined) return false;
    const target = this.nodes.get(message.to);
    if (target === undefined) return true;
    this.delivered.set(message.type, (this.delivered.get(message.type) ?? 0) + 1);
    target.core.step(message);
    return true;
  }

  /** Processes Readies and delivers messages until nothing moves. */
  stabilize(): void {
    for (let step = 0; step < STABILIZE_STEPS_MAX; step++) {
      let moved = false;
      for (const id of this.nodes.keys()) moved = this.processReady(id) || moved;
      moved = this.deliverOne() || moved;
      if (!moved) return;
    }
    throw new Error("cluster did not stabilize");
  }

  tick(ids: readonly RaftNodeId[] = [...this.nodes.keys()], times = 1): void {
    for (let i = 0; i < times; i++) {
      for (const id of ids) this.core(id).tick();
      this.stabilize();
    }
  }

  /** Elect `id` by campaigning and stabilizing. */
  elect(id: RaftNodeId): void {
    this.core(id).campaign();
    this.stabilize();
    const status = this.core(id).status();
    if (status.role !== "leader") throw new Error(`node ${id} did not become leader (role ${status.role})`);
  }

  leaders(): RaftNodeId[] {
    return [...this.nodes.values()].filter((node) => node.core.status().role === "leader").map((node) => node.id);
  }

  private dropQueuedFor(id: RaftNodeId): void {
    for (let i = this.queue.length - 1; i >= 0; i--) {
      if (this.queue[i]?.to === id || this.queue[i]?.from === id) this.queue.splice(i, 1);
    }
  }
}

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
export const text = (entry: Entry): string => new TextDecoder().decode(entry.data);

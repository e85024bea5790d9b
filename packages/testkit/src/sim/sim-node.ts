// One simulated server: a RaftCore, its MemoryRaftStorage (the "disk") and a state machine,
// driven exactly as types.ts's Ready contract says: persist snapshot, entries, hard state;
// then send messages; then restore the snapshot and apply committed entries; then advance().
//
// A crash discards the core and anything not yet persisted; a restart builds a new core over
// a clone of the disk as it was at the crash, with the state machine rebuilt from the latest
// snapshot (applied = snapshot index) and the rest re-applied from the log.

import { type Random, SeededRandom } from "@castle/common";
import {
  type ConfState,
  type Entry,
  type MemoryRaftStorage,
  type Message,
  type RaftConfig,
  RaftCore,
  type RaftNodeId,
  type RaftStatus,
  type Ready,
  type Role,
} from "@castle/raft";
import type { SafetyChecker } from "./safety-checker.js";
import { SimStateMachine } from "./state-machine.js";
import type { Trace } from "./trace.js";

/** The RaftConfig fields the simulator chooses (id and random are per node). */
export type SimRaftConfig = Omit<RaftConfig, "id" | "random">;

export type NodeState = "up" | "down" | "retired";

export interface SimNodeDeps {
  readonly raft: SimRaftConfig;
  readonly checker: SafetyChecker;
  readonly trace: Trace;
  readonly now: () => number;
  readonly send: (message: Message) => void;
  /** Every entry this node applies (after the checker saw it). */
  readonly onApply: (node: SimNode, entry: Entry) => void;
}

export interface SnapshotPolicy {
  /** Take a snapshot once this many entries were applied past the last one (0: never). */
  readonly everyEntries: number;
  /** Entries kept in the log below the snapshot index when compacting. */
  readonly keepEntries: number;
}

/** Ready batches one input may produce before the driver assumes the core is spinning. */
const READY_ROUNDS_MAX = 64;

export class SimNode {
  state: NodeState = "up";
  /** The disk: only the driver writes it, only from Ready. */
  storage: MemoryRaftStorage;
  core: RaftCore;
  stateMachine = new SimStateMachine();
  /** Bumps on every crash, so events scheduled for a previous life are ignored. */
  incarnation = 0;
  /** Cached after each step (the checker reads these). */
  role: Role = "follower";
  term = 0;
  leaderId: RaftNodeId = 0;
  commit = 0;
  confState: ConfState;
  /** When set, the next Ready sends only this many of its messages and then the node crashes. */
  crashAfterMessages: number | undefined;
  /** Milliseconds between ticks for this node (clock skew). */
  tickPeriodMs: number;
  /** While now < pausedUntilMs the node neither ticks nor takes messages (a GC pause, a stalled disk). */
  pausedUntilMs = 0;
  snapshotsRestored = 0;

  constructor(
    readonly id: RaftNodeId,
    storage: MemoryRaftStorage,
    private readonly random: Random,
    private readonly snapshots: SnapshotPolicy,
    tickPeriodMs: number,
    private readonly deps: SimNodeDeps,
  ) {
    this.storage = storage;
    this.tickPeriodMs = tickPeriodMs;
    this.confState = storage.confState;
    this.core = this.buildCore();
    this.refresh();
  }

  get up(): boolean {
    return this.state === "up";
  }

  get isObserver(): boolean {
    return this.confState.observers.includes(this.id);
  }

  get isMember(): boolean {
    return this.confState.voters.includes(this.id) || this.confState.observers.includes(this.id);
  }

  tick(): void {
    this.core.tick();
    this.handleReady();
  }

  step(message: Message): void {
    this.core.step(message);
    this.handleReady();
  }

  status(): RaftStatus {
    return this.core.status();
  }

  /** Lose everything not on disk. */
  crash(reason: string): void {
    if (this.state !== "up") return;
    this.state = "down";
    this.incarnation++;
    this.crashAfterMessages = undefined;
    this.deps.trace.event(
      this.deps.now(),
      this.id,
      `crash (${reason}) disk: hs=${formatHardState(this.storage)} log=${this.storage.firstIndex()}..${this.storage.lastIndex()}`,
    );
  }

  /** Come back with what was on disk at the crash. */
  restart(): void {
    if (this.state !== "down") return;
    this.state = "up";
    this.pausedUntilMs = 0;
    this.storage = this.storage.clone();
    this.stateMachine = new SimStateMachine();
    this.core = this.buildCore();
    const status = this.core.status();
    this.deps.checker.onRestart(this.id, this.storage.hardState.commit, status.commit);
    this.deps.trace.event(
      this.deps.now(),
      this.id,
      `restart term=${status.term} vote=${status.vote} commit=${status.commit} applied=${this.stateMachine.index} log=${status.firstIndex}..${status.lastIndex}`,
    );
    this.refresh();
    this.handleReady();
  }

  /** Stop for good (removed from the cluster, as an operator would). */
  retire(): void {
    if (this.state === "up") this.incarnation++;
    this.state = "retired";
    this.deps.trace.event(this.deps.now(), this.id, "retired");
  }

  /** Run Ready batches until the core has nothing more to say; the one place the contract is followed. */
  handleReady(): void {
    for (let round = 0; this.state === "up" && this.core.hasReady(); round++) {
      if (round >= READY_ROUNDS_MAX) throw new Error(`n${this.id}: core still has a Ready after ${READY_ROUNDS_MAX} rounds`);
      this.handleOneReady(this.core.ready());
    }
    if (this.state === "up") this.refresh();
  }

  private handleOneReady(ready: Ready): void {
    const { checker, trace, now } = this.deps;
    // 1. Persist: snapshot, then entries (append truncates a conflicting suffix), then hard state.
    if (ready.snapshot !== undefined) this.storage.applySnapshot(ready.snapshot);
    if (ready.entries.length > 0) this.storage.append(ready.entries);
    if (ready.hardState !== undefined) this.storage.setHardState(ready.hardState);
    checker.onPersist(this.id, this.storage, ready.snapshot, ready.entries, ready.hardState);
    if (ready.softState !== undefined) {
      trace.event(
        now(),
        this.id,
        `${ready.softState.role} term=${ready.hardState?.term ?? this.storage.hardState.term} leader=n${ready.softState.leaderId}`,
      );
    }
    // 2. Send, only now that what the messages promise is durable.
    const isObserver = this.isObserver;
    for (const [i, message] of ready.messages.entries()) {
      if (this.crashAfterMessages !== undefined && i >= this.crashAfterMessages) {
        this.crash(`mid-Ready after ${i} of ${ready.messages.length} messages`);
        return;
      }
      checker.onSend(this.id, isObserver, message);
      this.deps.send(message);
    }
    if (this.crashAfterMessages !== undefined) {
      this.crash(`after sending a Ready's ${ready.messages.length} messages, before applying`);
      return;
    }
    // 3. Apply: the snapshot first, then committed entries in order.
    if (ready.snapshot !== undefined) {
      const image = this.stateMachine.restore(ready.snapshot.data);
      if (image.index !== ready.snapshot.meta.index)
        throw new Error(`n${this.id}: snapshot ${ready.snapshot.meta.index} holds state at ${image.index}`);
      this.snapshotsRestored++;
      checker.onRestore(this.id, ready.snapshot.meta.index, ready.snapshot.meta.term, image.hash);
      trace.event(now(), this.id, `restored snapshot ${ready.snapshot.meta.index}/${ready.snapshot.meta.term}`);
    }
    for (const entry of ready.committedEntries) {
      if (entry.index !== this.stateMachine.index + 1) {
        throw new Error(`n${this.id}: committed entry ${entry.index} does not follow applied ${this.stateMachine.index}`);
      }
      this.stateMachine.apply(entry);
      checker.onApply(this.id, entry, this.stateMachine.hash);
      this.deps.onApply(this, entry);
    }
    for (const readState of ready.readStates) checker.onReadState(this.id, readState);
    // 4. Acknowledge.
    this.core.advance(ready);
    if (ready.committedEntries.length > 0) this.maybeSnapshot();
  }

  /** Snapshot the state machine and compact the log, so lagging peers need InstallSnapshot. */
  private maybeSnapshot(): void {
    const { everyEntries, keepEntries } = this.snapshots;
    if (everyEntries <= 0) return;
    const snapshotIndex = this.storage.snapshot()?.meta.index ?? 0;
    const applied = this.stateMachine.index;
    if (applied - snapshotIndex < everyEntries || applied > this.storage.hardState.commit) return;
    const status = this.core.status();
    if (status.applied !== applied) throw new Error(`n${this.id}: core says applied ${status.applied}, state machine is at ${applied}`);
    this.storage.createSnapshot(applied, status.confState, this.stateMachine.encode());
    this.storage.compact(Math.max(applied - keepEntries, 0));
    this.deps.trace.event(
      this.deps.now(),
      this.id,
      `snapshot at ${applied}, log now ${this.storage.firstIndex()}..${this.storage.lastIndex()}`,
    );
  }

  private buildCore(): RaftCore {
    const snapshot = this.storage.snapshot();
    if (snapshot !== undefined) {
      const image = this.stateMachine.restore(snapshot.data);
      this.deps.checker.onRestore(this.id, snapshot.meta.index, snapshot.meta.term, image.hash);
    }
    const config: RaftConfig = { ...this.deps.raft, id: this.id, random: new SeededRandom(this.random.int(2 ** 32)) };
    return new RaftCore(config, this.storage, { applied: this.stateMachine.index });
  }

  private refresh(): void {
    const status = this.core.status();
    this.role = status.role;
    this.term = status.term;
    this.leaderId = status.leaderId;
    this.commit = status.commit;
    this.confState = status.confState;
  }
}

function formatHardState(storage: MemoryRaftStorage): string {
  const hs = storage.hardState;
  return `${hs.term}/${hs.vote}/${hs.commit}`;
}

// The Raft driver: owns a RaftCore, feeds it ticks from a timer, inbound messages from the
// transport and requests from callers, and carries out each Ready in the contract's order
// (types.ts): persist -> send -> restore/apply -> advance. Exactly one Ready is in
// progress at a time (a promise chain); the core keeps accepting input meanwhile, and its
// next Ready picks that up.
//
// Callers get promises: propose() resolves once its entry is committed AND applied here;
// readIndex() once this node may serve a linearizable read (§6.4). A failure of storage or
// of the state machine is fatal: the node stops (fails every pending request) rather than
// run on with a state it cannot vouch for.

import { CastleError, type Clock, invariant, type Logger, type Random, silentLogger, systemClock, systemRandom } from "@castle/common";
import type * as grpc from "@grpc/grpc-js";
import type { Registry } from "prom-client";
import { decodeConfChange } from "../core/conf-change.js";
import { RaftCore } from "../core/raft-core.js";
import {
  type ConfChange,
  type Entry,
  EntryType,
  type Message,
  NO_NODE,
  type ProposeResult,
  type RaftConfig,
  type RaftNodeId,
  type Ready,
  type Refusal,
  type Role,
} from "../core/types.js";
import { LevelDbRaftStorage } from "../storage/leveldb-raft-storage.js";
import { GrpcRaftTransport } from "../transport/grpc-raft-transport.js";
import { RaftNodeMetrics } from "./raft-node-metrics.js";

/** The application's replicated state. Called only from the driver's single Ready chain. */
export interface RaftStateMachine {
  /**
   * Applies committed application entries, in log order. Leader no-ops (empty Normal entries)
   * and membership changes are Raft's own and are not passed. Must be deterministic.
   */
  apply(entries: readonly Entry[]): Promise<void> | void;
  /** The state as of the last applied entry (the driver records which index that is). */
  snapshot(): Promise<Uint8Array>;
  /**
   * Replaces the whole state with a snapshot's (on start, or one sent by the leader). Empty
   * data is the bootstrap snapshot (see bootstrap-snapshot.ts): reset to the initial state.
   */
  restore(data: Uint8Array): Promise<void>;
}

export interface RaftNodeOptions {
  readonly id: RaftNodeId;
  readonly dataDir: string;
  readonly listen: { readonly host: string; readonly port: number };
  /** Address book, node id -> "host:port" (this node's own entry is ignored). */
  readonly peers: Readonly<Record<number, string>>;
  /** Bootstrap membership, used only when dataDir holds no Raft state yet. */
  readonly voters: readonly RaftNodeId[];
  readonly observers?: readonly RaftNodeId[];
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  /** Take a state machine snapshot (and compact the log) every this many applied entries; 0 = never. */
  readonly snapshotEveryEntries?: number;
  /** Also take one once this many bytes of application entries were applied since the last; 0 = no byte trigger. */
  readonly snapshotEveryBytes?: number;
  /** How long propose/readIndex/transfer wait before failing with TIMED_OUT (outcome unknown for a proposal). */
  readonly requestTimeoutMs?: number;
  readonly appendBytesMax?: number;
  readonly inflightAppendsMax?: number;
  readonly snapshotChunkBytes?: number;
  readonly stateMachine: RaftStateMachine;
  readonly clock?: Clock;
  readonly random?: Random;
  readonly logger?: Logger;
  readonly metricsRegistry?: Registry;
  /** Adds the application's own services to the Raft transport's gRPC server. */
  readonly addServices?: (server: grpc.Server) => void;
  /** Sent with every batch; batches of another cluster are refused (see GrpcRaftTransportOptions). */
  readonly clusterId?: string;
}

export type RaftNodeErrorCode = "NOT_LEADER" | "PROPOSAL_DROPPED" | "REFUSED" | "TIMED_OUT" | "CLOSED" | "FAILED";

export class RaftNodeError extends CastleError<RaftNodeErrorCode> {}

/** One quorum member as `castle quorum describe --replication` shows it (leader's view). */
export interface RaftReplicaStatus {
  readonly nodeId: RaftNodeId;
  readonly role: "leader" | "voter" | "observer";
  /** Highest index known to be in the replica's log (match index; the leader's last index for itself). -1 if unknown. */
  readonly logEndOffset: number;
  /** Leader's last index minus logEndOffset; -1 if unknown. */
  readonly lag: number;
  /** Wall-clock ms of the last append response from the replica; undefined if none yet. */
  readonly lastFetchTimestampMs: number | undefined;
  /** Wall-clock ms when the replica last matched the leader's whole log; undefined if never. */
  readonly lastCaughtUpTimestampMs: number | undefined;
}

export interface RaftNodeStatus {
  readonly nodeId: RaftNodeId;
  readonly role: Role;
  readonly leaderId: RaftNodeId;
  readonly leaderAddress: string | undefined;
  /** The current term: the quorum's epoch. */
  readonly term: number;
  /** Whom this node voted for in `term` (NO_NODE: nobody; always so for an observer). */
  readonly votedFor: RaftNodeId;
  /** Commit index: the high watermark of the Raft log. */
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  /** Per-member replication; meaningful on the leader (elsewhere offsets are -1). */
  readonly voters: readonly RaftReplicaStatus[];
  readonly observers: readonly RaftReplicaStatus[];
  /** Set once storage or the state machine failed: the node has stopped and will not recover. */
  readonly failure: string | undefined;
}

/** A change of this node's role or of the leader it knows, or its failure. */
export interface RaftRoleChange {
  readonly role: Role | "failed";
  readonly leaderId: RaftNodeId;
  readonly term: number;
}
export type RaftRoleListener = (change: RaftRoleChange) => void;

interface PendingProposal {
  readonly term: number;
  readonly startedMs: number;
  readonly resolve: (result: { index: number; term: number }) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

interface PendingRead {
  /** Set once the core confirmed leadership: the index to wait for. */
  index: number | undefined;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

interface PeerActivity {
  lastFetchMs: number | undefined;
  lastCaughtUpMs: number | undefined;
}

export const DEFAULT_TICK_MS = 100;
export const DEFAULT_ELECTION_TICKS = 10;
export const DEFAULT_HEARTBEAT_TICKS = 1;
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

export class RaftNode {
  private readonly pendingProposals = new Map<number, PendingProposal>();
  private readonly roleListeners = new Set<RaftRoleListener>();
  private readonly pendingReads = new Map<string, PendingRead>();
  private readonly activity = new Map<RaftNodeId, PeerActivity>();
  private readonly peers: Map<RaftNodeId, string>;
  private chain: Promise<void> = Promise.resolve();
  private readyInProgress = false;
  private ticker: NodeJS.Timeout | undefined;
  private closed = false;
  private failure: Error | undefined;
  private readSequence = 0;
  private applied: number;
  private snapshotIndex: number;
  /** Application entry bytes applied since the last snapshot (snapshotEveryBytes). */
  private bytesSinceSnapshot = 0;
  private role: Role = "follower";
  private leaderId: RaftNodeId = NO_NODE;
  private electionsSeen = 0;

  private constructor(
    readonly id: RaftNodeId,
    private readonly core: RaftCore,
    private readonly storage: LevelDbRaftStorage,
    private readonly transport: GrpcRaftTransport,
    private readonly stateMachine: RaftStateMachine,
    private readonly options: RaftNodeOptions,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly metrics: RaftNodeMetrics,
  ) {
    this.applied = storage.firstIndex() - 1;
    this.snapshotIndex = storage.snapshot()?.meta.index ?? 0;
    this.peers = new Map(Object.entries(options.peers).map(([id, address]) => [Number(id), address]));
  }

  /** Opens the storage, restores the state machine from the latest snapshot, binds the transport and starts ticking. */
  static async start(options: RaftNodeOptions): Promise<RaftNode> {
    validate(options);
    const logger = (options.logger ?? silentLogger).child({ component: "raft", nodeId: options.id });
    const clock = options.clock ?? systemClock;
    const storage = await LevelDbRaftStorage.open(options.dataDir, {
      logger,
      bootstrap: { voters: [...options.voters], observers: [...(options.observers ?? [])] },
    });
    let transport: GrpcRaftTransport | undefined;
    try {
      const snapshot = storage.snapshot();
      if (snapshot) await options.stateMachine.restore(snapshot.data);
      const config: RaftConfig = {
        id: options.id,
        electionTicks: options.electionTicks ?? DEFAULT_ELECTION_TICKS,
        heartbeatTicks: options.heartbeatTicks ?? DEFAULT_HEARTBEAT_TICKS,
        preVote: true,
        checkQuorum: true,
        appendBytesMax: options.appendBytesMax ?? 1024 * 1024,
        inflightAppendsMax: options.inflightAppendsMax ?? 64,
        snapshotChunkBytes: options.snapshotChunkBytes ?? 1024 * 1024,
        random: options.random ?? systemRandom,
      };
      const core = new RaftCore(config, storage, { applied: storage.firstIndex() - 1 });
      const peers = Object.fromEntries(Object.entries(options.peers).filter(([id]) => Number(id) !== options.id));
      transport = await GrpcRaftTransport.start(
        {
          id: options.id,
          listen: options.listen,
          peers,
          ...(options.addServices ? { addServices: options.addServices } : {}),
          ...(options.clusterId === undefined ? {} : { clusterId: options.clusterId }),
        },
        { logger, clock, ...(options.metricsRegistry === undefined ? {} : { metricsRegistry: options.metricsRegistry }) },
      );
      const node = new RaftNode(
        options.id,
        core,
        storage,
        transport,
        options.stateMachine,
        options,
        clock,
        logger,
        new RaftNodeMetrics(options.metricsRegistry),
      );
      node.run();
      logger.info("raft node started", {
        listen: `${options.listen.host}:${transport.port}`,
        firstIndex: storage.firstIndex(),
        lastIndex: storage.lastIndex(),
        term: storage.hardState.term,
      });
      return node;
    } catch (error) {
      await transport?.close();
      await storage.close();
      throw error;
    }
  }

  /** The port the Raft transport listens on (useful with listen.port 0). */
  get port(): number {
    return this.transport.port;
  }

  // ---- requests ----

  /** Resolves with the entry's position once it is committed and applied on this node. */
  propose(data: Uint8Array): Promise<{ index: number; term: number }> {
    return this.submit(() => this.core.propose(data));
  }

  addVoter(nodeId: RaftNodeId, address?: string): Promise<{ index: number; term: number }> {
    return this.changeMembership({ type: "addVoter", nodeId }, address);
  }

  addObserver(nodeId: RaftNodeId, address?: string): Promise<{ index: number; term: number }> {
    return this.changeMembership({ type: "addObserver", nodeId }, address);
  }

  removeNode(nodeId: RaftNodeId): Promise<{ index: number; term: number }> {
    return this.changeMembership({ type: "removeNode", nodeId });
  }

  /** Resolves when a read served from this node's state machine now is linearizable (ReadIndex, §6.4). */
  readIndex(): Promise<void> {
    const unusable = this.unusable();
    if (unusable) return Promise.reject(unusable);
    const requestId = `${this.id}-${++this.readSequence}`;
    const result = this.core.readIndex(requestId);
    if (!result.ok) return Promise.reject(this.refusalError(result));
    this.kick();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pendingReads.delete(requestId);
        reject(new RaftNodeError("TIMED_OUT", `read index not confirmed within ${this.requestTimeoutMs()} ms`, { requestId }));
      }, this.requestTimeoutMs());
      this.pendingReads.set(requestId, { index: undefined, resolve, reject, timer });
    });
  }

  /** Asks the leader (this node) to hand leadership to `to`; resolves once this node sees `to` lead. */
  async transferLeadership(to: RaftNodeId): Promise<void> {
    const unusable = this.unusable();
    if (unusable) throw unusable;
    const result = this.core.transferLeadership(to);
    if (!result.ok) throw this.refusalError(result);
    this.kick();
    const deadline = this.clock.monotonicMs() + this.requestTimeoutMs();
    while (this.leaderId !== to) {
      const failed = this.unusable();
      if (failed) throw failed;
      if (this.clock.monotonicMs() > deadline) throw new RaftNodeError("TIMED_OUT", `leadership did not move to node ${to}`, { to });
      await new Promise((resolve) => setTimeout(resolve, this.tickMs()));
    }
  }

  /**
   * Learns or re-points a member's address (from the application's own records, e.g. a broker's
   * registration), so a leader elected later can reach observers it did not add itself.
   */
  setPeerAddress(nodeId: RaftNodeId, address: string): void {
    if (nodeId === this.id || this.peers.get(nodeId) === address) return;
    this.peers.set(nodeId, address);
    this.transport.setPeer(nodeId, address);
  }

  /** Starts an election now (tests, operator tooling). */
  campaign(): void {
    if (this.unusable()) return;
    this.core.campaign();
    this.kick();
  }

  status(): RaftNodeStatus {
    const core = this.core.status();
    const isLeader = core.role === "leader";
    const leaderLast = core.lastIndex;
    const progress = new Map(core.progress.map((p) => [p.id, p]));
    const replica = (nodeId: RaftNodeId, observer: boolean): RaftReplicaStatus => {
      const self = nodeId === this.id;
      const match = !isLeader ? -1 : self ? leaderLast : (progress.get(nodeId)?.matchIndex ?? -1);
      const seen = this.activity.get(nodeId);
      const now = this.clock.nowMs();
      return {
        nodeId,
        role: observer ? "observer" : isLeader && self ? "leader" : "voter",
        logEndOffset: match,
        lag: match < 0 ? -1 : Math.max(0, leaderLast - match),
        lastFetchTimestampMs: isLeader && self ? now : seen?.lastFetchMs,
        lastCaughtUpTimestampMs: isLeader && self ? now : seen?.lastCaughtUpMs,
      };
    };
    return {
      nodeId: this.id,
      role: core.role,
      leaderId: core.leaderId,
      leaderAddress: this.addressOf(core.leaderId),
      term: core.term,
      votedFor: core.vote,
      commitIndex: core.commit,
      appliedIndex: this.applied,
      firstIndex: core.firstIndex,
      lastIndex: core.lastIndex,
      voters: core.confState.voters.map((id) => replica(id, false)),
      observers: core.confState.observers.map((id) => replica(id, true)),
      failure: this.failure?.message,
    };
  }

  /** Stops ticking and the transport, lets the Ready in progress finish, closes storage. Pending requests fail with CLOSED. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ticker) clearInterval(this.ticker);
    await this.transport.close();
    await this.chain.catch(() => {});
    this.failPending(new RaftNodeError("CLOSED", `raft node ${this.id} is closed`));
    await this.storage.close();
    this.logger.info("raft node closed");
  }

  // ---- the loop ----

  private run(): void {
    this.transport.onMessage((message) => this.handleMessage(message));
    this.transport.onUnreachable((peer) => {
      if (!this.unusable()) this.core.reportUnreachable(peer);
    });
    this.ticker = setInterval(() => {
      if (this.unusable()) return;
      this.core.tick();
      this.kick();
    }, this.tickMs());
    this.kick();
  }

  private handleMessage(message: Message): void {
    if (this.unusable()) return;
    if (message.type === "append-response" && this.role === "leader") this.trackFetch(message.from, message.matchIndex, message.success);
    this.core.step(message);
    this.kick();
  }

  private trackFetch(peer: RaftNodeId, matchIndex: number, success: boolean): void {
    const now = this.clock.nowMs();
    const seen = this.activity.get(peer) ?? { lastFetchMs: undefined, lastCaughtUpMs: undefined };
    seen.lastFetchMs = now;
    if (success && matchIndex >= this.storage.lastIndex()) seen.lastCaughtUpMs = now;
    this.activity.set(peer, seen);
  }

  /** Starts working through Readies unless already doing so. */
  private kick(): void {
    if (this.readyInProgress || this.unusable() || !this.core.hasReady()) return;
    this.readyInProgress = true;
    this.chain = this.chain
      .then(() => this.drainReadies())
      .catch((error: unknown) => this.fail(error))
      .finally(() => {
        this.readyInProgress = false;
      });
  }

  private async drainReadies(): Promise<void> {
    while (!this.failure && this.core.hasReady()) {
      const ready = this.core.ready();
      await this.handleReady(ready);
      this.core.advance(ready);
      this.afterAdvance(ready);
      await this.maybeSnapshot();
    }
  }

  private async handleReady(ready: Ready): Promise<void> {
    if (ready.softState) this.observeSoftState(ready.softState.role, ready.softState.leaderId);
    // 1. Persist, durably.
    if (ready.snapshot || ready.entries.length > 0 || ready.hardState) {
      const started = this.clock.monotonicMs();
      await this.storage.persist(ready);
      this.metrics.appendLatency.observe((this.clock.monotonicMs() - started) / 1000);
    }
    if (ready.hardState) {
      this.metrics.currentTerm.set(ready.hardState.term);
      this.metrics.commitIndex.set(ready.hardState.commit);
    }
    // 2. Send what depends on it. Closing stops the transport first; nothing more goes out then.
    if (!this.closed) for (const message of ready.messages) this.transport.send(message);
    // 3. Restore, then apply.
    if (ready.snapshot) {
      await this.stateMachine.restore(ready.snapshot.data);
      this.applied = ready.snapshot.meta.index;
      this.snapshotIndex = ready.snapshot.meta.index;
      this.bytesSinceSnapshot = 0;
      this.settleProposalsUpTo(this.applied);
      this.logger.info("restored snapshot from leader", { index: ready.snapshot.meta.index, term: ready.snapshot.meta.term });
    }
    const commands = ready.committedEntries.filter((e) => e.type === EntryType.Normal && e.data.byteLength > 0);
    if (commands.length > 0) await this.stateMachine.apply(commands);
    for (const command of commands) this.bytesSinceSnapshot += command.data.byteLength;
    const last = ready.committedEntries.at(-1);
    if (last) this.applied = last.index;
    this.metrics.appliedIndex.set(this.applied);
  }

  private afterAdvance(ready: Ready): void {
    for (const entry of ready.committedEntries) {
      this.settleProposal(entry);
      if (entry.type === EntryType.ConfChange) this.forgetRemovedPeer(entry);
    }
    for (const state of ready.readStates) {
      const read = this.pendingReads.get(state.requestId);
      if (read) read.index = state.index;
    }
    for (const [requestId, read] of this.pendingReads) {
      if (read.index !== undefined && read.index <= this.applied) {
        clearTimeout(read.timer);
        this.pendingReads.delete(requestId);
        read.resolve();
      }
    }
    // Every election changes the role, so the counter is read (status() builds a whole view) only then.
    if (ready.softState) {
      const elections = this.core.status().counters.electionsStarted;
      if (elections > this.electionsSeen) this.metrics.electionsTotal.inc(elections - this.electionsSeen);
      this.electionsSeen = elections;
    }
  }

  private observeSoftState(role: Role, leaderId: RaftNodeId): void {
    const changed = role !== this.role || leaderId !== this.leaderId;
    if (changed) this.logger.info("raft role changed", { role, leaderId, previousRole: this.role });
    if (role === "leader" && this.role !== "leader") this.activity.clear();
    if (this.role === "leader" && role !== "leader") this.rejectProposalsOnStepDown(leaderId);
    this.role = role;
    this.leaderId = leaderId;
    this.metrics.setRole(role);
    this.metrics.leaderId.set(leaderId);
    if (changed) this.notifyRole({ role, leaderId, term: this.core.status().term });
  }

  /**
   * Registers a listener for role and leader changes (and failure), called after the change is
   * recorded; returns the function that removes it. Listeners must not throw.
   */
  onRoleChange(listener: RaftRoleListener): () => void {
    this.roleListeners.add(listener);
    return () => this.roleListeners.delete(listener);
  }

  private notifyRole(change: RaftRoleChange): void {
    for (const listener of this.roleListeners) listener(change);
  }

  /**
   * A leader that steps down answers its pending proposals at once instead of at their timeout.
   * Their entries may still commit under the next leader, so the error says the outcome is
   * unknown; a caller that needs to know reads the log (or retries idempotently).
   */
  private rejectProposalsOnStepDown(newLeaderId: RaftNodeId): void {
    if (this.pendingProposals.size === 0) return;
    const where = newLeaderId === NO_NODE ? "no leader is known yet" : `the leader is now ${newLeaderId}`;
    for (const [index, pending] of this.pendingProposals) {
      clearTimeout(pending.timer);
      pending.reject(
        new RaftNodeError("NOT_LEADER", `node ${this.id} lost leadership before entry ${index} committed; it may still commit; ${where}`),
      );
    }
    this.pendingProposals.clear();
  }

  private settleProposal(entry: Entry): void {
    const pending = this.pendingProposals.get(entry.index);
    if (!pending) return;
    this.pendingProposals.delete(entry.index);
    clearTimeout(pending.timer);
    if (entry.term === pending.term) {
      this.metrics.commitLatency.observe((this.clock.monotonicMs() - pending.startedMs) / 1000);
      pending.resolve({ index: entry.index, term: entry.term });
    } else {
      pending.reject(
        new RaftNodeError(
          "PROPOSAL_DROPPED",
          `proposal at index ${entry.index} was replaced by a new leader's entry (term ${pending.term} -> ${entry.term})`,
          {
            index: entry.index,
            leaderId: this.leaderId,
          },
        ),
      );
    }
  }

  /** A snapshot covering pending proposals says nothing of which entries they became. */
  private settleProposalsUpTo(index: number): void {
    for (const [at, pending] of this.pendingProposals) {
      if (at > index) continue;
      this.pendingProposals.delete(at);
      clearTimeout(pending.timer);
      pending.reject(
        new RaftNodeError("TIMED_OUT", `outcome of the proposal at index ${at} is unknown (a snapshot replaced the log)`, { index: at }),
      );
    }
  }

  private async maybeSnapshot(): Promise<void> {
    const every = this.options.snapshotEveryEntries ?? 0;
    const everyBytes = this.options.snapshotEveryBytes ?? 0;
    const dueByEntries = every > 0 && this.applied - this.snapshotIndex >= every;
    const dueByBytes = everyBytes > 0 && this.bytesSinceSnapshot >= everyBytes;
    if ((!dueByEntries && !dueByBytes) || this.applied <= this.snapshotIndex) return;
    const index = this.applied;
    const term = this.storage.term(index);
    invariant(term !== undefined, () => `no term for applied index ${index}`);
    const data = await this.stateMachine.snapshot();
    const confState = this.core.status().confState;
    await this.storage.saveSnapshot({ meta: { index, term, confState }, data });
    await this.storage.compact(index);
    this.snapshotIndex = index;
    this.bytesSinceSnapshot = 0;
    this.metrics.snapshotsTaken.inc();
    this.logger.info("took snapshot", { index, term, bytes: data.byteLength });
  }

  // ---- helpers ----

  private submit(propose: () => ProposeResult): Promise<{ index: number; term: number }> {
    const unusable = this.unusable();
    if (unusable) return Promise.reject(unusable);
    const startedMs = this.clock.monotonicMs();
    const result = propose();
    if (!result.ok) return Promise.reject(this.refusalError(result));
    this.kick();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pendingProposals.delete(result.index);
        reject(
          new RaftNodeError(
            "TIMED_OUT",
            `proposal at index ${result.index} not applied within ${this.requestTimeoutMs()} ms; outcome unknown`,
            {
              index: result.index,
            },
          ),
        );
      }, this.requestTimeoutMs());
      this.pendingProposals.set(result.index, { term: result.term, startedMs, resolve, reject, timer });
    });
  }

  /**
   * A node removed from the configuration leaves the address book too, so the transport
   * refuses its messages (a removed node that keeps campaigning could otherwise raise terms).
   */
  private forgetRemovedPeer(entry: Entry): void {
    const change = decodeConfChange(entry.data);
    if (change.type !== "removeNode" || change.nodeId === this.id) return;
    this.peers.delete(change.nodeId);
    this.transport.removePeer(change.nodeId);
  }

  private changeMembership(change: ConfChange, address?: string): Promise<{ index: number; term: number }> {
    if (address !== undefined && change.nodeId !== this.id) {
      this.peers.set(change.nodeId, address);
      this.transport.setPeer(change.nodeId, address);
    }
    return this.submit(() => this.core.proposeConfChange(change));
  }

  private refusalError(refusal: Refusal): RaftNodeError {
    if (refusal.reason === "not-leader") {
      const where =
        refusal.leaderId === NO_NODE
          ? "no leader is known yet"
          : `leader is ${refusal.leaderId} at ${this.addressOf(refusal.leaderId) ?? "an unknown address"}`;
      return new RaftNodeError("NOT_LEADER", `node ${this.id} is not the leader; ${where}`, {
        leaderId: refusal.leaderId,
        leaderAddress: this.addressOf(refusal.leaderId),
      });
    }
    return new RaftNodeError("REFUSED", `node ${this.id} refused the request: ${refusal.reason}`, {
      reason: refusal.reason,
      leaderId: refusal.leaderId,
    });
  }

  private addressOf(nodeId: RaftNodeId): string | undefined {
    if (nodeId === NO_NODE) return undefined;
    if (nodeId === this.id) return `${this.options.listen.host}:${this.transport.port}`;
    return this.peers.get(nodeId);
  }

  private unusable(): RaftNodeError | undefined {
    if (this.failure) return new RaftNodeError("FAILED", `raft node ${this.id} stopped after a failure: ${this.failure.message}`);
    if (this.closed) return new RaftNodeError("CLOSED", `raft node ${this.id} is closed`);
    return undefined;
  }

  private fail(error: unknown): void {
    if (this.failure) return;
    this.failure = error instanceof Error ? error : new Error(String(error));
    if (this.closed) {
      this.logger.warn("raft node stopped while closing", { error: this.failure });
    } else {
      this.logger.error("raft node stopped: storage or state machine failed", { error: this.failure });
    }
    if (this.ticker) clearInterval(this.ticker);
    this.failPending(new RaftNodeError("FAILED", `raft node ${this.id} stopped: ${this.failure.message}`));
    this.notifyRole({ role: "failed", leaderId: this.leaderId, term: this.core.status().term });
  }

  private failPending(error: RaftNodeError): void {
    for (const pending of this.pendingProposals.values()) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.pendingProposals.clear();
    for (const read of this.pendingReads.values()) {
      clearTimeout(read.timer);
      read.reject(error);
    }
    this.pendingReads.clear();
  }

  private tickMs(): number {
    return this.options.tickMs ?? DEFAULT_TICK_MS;
  }

  private requestTimeoutMs(): number {
    return this.options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }
}

function validate(options: RaftNodeOptions): void {
  const problems: string[] = [];
  const positiveInt = (value: number | undefined, name: string): void => {
    if (value !== undefined && (!Number.isSafeInteger(value) || value <= 0))
      problems.push(`${name} must be a positive integer, got ${value}`);
  };
  positiveInt(options.id, "id");
  positiveInt(options.tickMs, "tickMs");
  positiveInt(options.electionTicks, "electionTicks");
  positiveInt(options.heartbeatTicks, "heartbeatTicks");
  positiveInt(options.requestTimeoutMs, "requestTimeoutMs");
  if (options.snapshotEveryBytes !== undefined && (!Number.isSafeInteger(options.snapshotEveryBytes) || options.snapshotEveryBytes < 0)) {
    problems.push(`snapshotEveryBytes must be a non-negative integer, got ${options.snapshotEveryBytes}`);
  }
  if (
    options.snapshotEveryEntries !== undefined &&
    (!Number.isSafeInteger(options.snapshotEveryEntries) || options.snapshotEveryEntries < 0)
  ) {
    problems.push(`snapshotEveryEntries must be a non-negative integer, got ${options.snapshotEveryEntries}`);
  }
  const election = options.electionTicks ?? DEFAULT_ELECTION_TICKS;
  const heartbeat = options.heartbeatTicks ?? DEFAULT_HEARTBEAT_TICKS;
  if (heartbeat >= election) problems.push(`heartbeatTicks (${heartbeat}) must be below electionTicks (${election})`);
  const members = [...options.voters, ...(options.observers ?? [])];
  if (new Set(members).size !== members.length) problems.push("a node is listed twice among voters and observers");
  for (const id of members) {
    if (id !== options.id && options.peers[id] === undefined) problems.push(`no address in peers for member ${id}`);
  }
  if (problems.length > 0) throw new RaftNodeError("REFUSED", `invalid Raft node options: ${problems.join("; ")}`, { problems });
}

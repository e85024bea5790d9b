// The metadata quorum member: runs the pure QuorumController on a RaftNode (KIP-500/KIP-631's
// controller quorum). Every member, voter or observer, replays the committed metadata log into
// a MetadataImage (metadata-state-machine.ts); the Raft leader is the active controller.
//
// Becoming active (KIP-631: a new active controller first replays the log up to its own
// epoch's start): when this member becomes the Raft leader in term T, it notes the log's last
// index, which is T's no-op entry; once everything up to it is applied, no entry of an
// earlier leader is still waiting, and the controller is reset to the committed image and
// starts deciding. It stops when the role or term changes.
//
// Deciding (one decision at a time, serially): decide -> append the records as one entry ->
// RaftNode applies it here, and the state machine replays it into the controller and the
// image alike -> answer. A decision with no records answers at once. When an append fails
// (leadership lost, entry replaced, timed out) the controller is detached and re-gated as on
// becoming active: the entry may still commit, so it decides again only from a committed
// image that includes every entry in the log, and the caller gets NOT_CONTROLLER (or
// REQUEST_TIMED_OUT, outcome unknown).
//
// Timers: a leadership poll (RaftNode has no role listener) and the controller tick (session
// expiry, rebalance), which commits through the same queue. Time comes from the Clock port.

import { type Clock, invariant, type Logger, type Random, silentLogger, systemClock, systemRandom } from "@castle/common";
import { ProtocolError, protocolError } from "@castle/protocol";
import { RaftNode, RaftNodeError, type RaftNodeStatus } from "@castle/raft";
import type {
  AlterConfigsRequest,
  AlterConfigsResult,
  AlterPartitionRequest,
  AlterPartitionResult,
  BrokerHeartbeatRequest,
  BrokerHeartbeatResult,
  ControllerResult,
  CreatePartitionsRequest,
  CreateTopicRequest,
  CreateTopicResult,
  ElectionResult,
  ProducerIdsBlock,
  RegisterBrokerRequest,
  RegisterBrokerResult,
  TopicPartitionRef,
  TopicResult,
} from "../controller/controller-types.js";
import { uncleanElections } from "../controller/partition-change-builder.js";
import { type BrokerLiveness, QuorumController } from "../controller/quorum-controller.js";
import type { MetadataImage } from "../image/metadata-image.js";
import type { MetadataRecord } from "../records/metadata-record.js";
import { encodeMetadataBatch } from "../records/record-codec.js";
import {
  CONTROLLER_ENDPOINT,
  DEFAULT_CONTROLLER_TICK_INTERVAL_MS,
  DEFAULT_DECISION_QUEUE_MAX,
  DEFAULT_LEADERSHIP_POLL_INTERVAL_MS,
  DEFAULT_SNAPSHOT_EVERY_ENTRIES,
  type MetadataQuorumDeps,
  type MetadataQuorumOptions,
  validateMetadataQuorumOptions,
} from "./metadata-quorum-options.js";
import { type ImageListener, MetadataStateMachine, type ReplayStats } from "./metadata-state-machine.js";
import { describeQuorum, type QuorumInfo } from "./quorum-info.js";
import { SerialQueue } from "./serial-queue.js";

/**
 * One decision. `nowMs` is when the request arrived (monotonic), not when its turn came: a
 * heartbeat that waited behind a slow commit still renews the session from its arrival, and a
 * tick judges sessions as of when it was queued, after every heartbeat queued before it.
 */
type Decide<T> = (controller: QuorumController, nowMs: number) => ControllerResult<T>;

/** Becoming active waits until the log is applied up to the leader's no-op of `term`. */
interface PendingActivation {
  readonly term: number;
  readonly barrierIndex: number;
}

export class MetadataQuorum {
  private activeTerm = -1;
  private activation: PendingActivation | undefined;
  private closed = false;
  private tickQueued = false;
  private uncleanElectionsCommitted = 0;
  private readonly leadershipTimer: NodeJS.Timeout;
  private readonly tickTimer: NodeJS.Timeout;

  private constructor(
    readonly options: MetadataQuorumOptions,
    private readonly raftNode: RaftNode,
    private readonly machine: MetadataStateMachine,
    private readonly controller: QuorumController,
    private readonly queue: SerialQueue,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {
    this.leadershipTimer = setInterval(
      () => this.refreshLeadership(),
      options.leadershipPollIntervalMs ?? DEFAULT_LEADERSHIP_POLL_INTERVAL_MS,
    );
    this.tickTimer = setInterval(() => this.maybeTick(), options.controllerTickIntervalMs ?? DEFAULT_CONTROLLER_TICK_INTERVAL_MS);
    this.learnObserverAddresses(machine.image);
    machine.onImage((image) => this.learnObserverAddresses(image));
    // A sole voter need not wait out an election timeout to lead (the single-node default).
    if (options.voters.length === 1 && options.voters[0] === options.nodeId) raftNode.campaign();
  }

  /** Opens the Raft log in options.dataDir (loading the latest snapshot, then replaying the rest) and joins the quorum. */
  static async start(options: MetadataQuorumOptions, deps: MetadataQuorumDeps = {}): Promise<MetadataQuorum> {
    validateMetadataQuorumOptions(options);
    const clock = deps.clock ?? systemClock;
    const random: Random = deps.random ?? systemRandom;
    const logger = (deps.logger ?? silentLogger).child({ component: "metadata-quorum", nodeId: options.nodeId });
    const machine = new MetadataStateMachine(logger, () => clock.monotonicMs());
    const raftNode = await RaftNode.start({
      id: options.nodeId,
      clusterId: options.clusterId,
      dataDir: options.dataDir,
      listen: options.listen,
      peers: options.peers,
      voters: options.voters,
      observers: options.observers ?? [],
      ...(options.raftTickMs === undefined ? {} : { tickMs: options.raftTickMs }),
      ...(options.raftElectionTicks === undefined ? {} : { electionTicks: options.raftElectionTicks }),
      ...(options.raftHeartbeatTicks === undefined ? {} : { heartbeatTicks: options.raftHeartbeatTicks }),
      ...(options.raftRequestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.raftRequestTimeoutMs }),
      snapshotEveryEntries: options.snapshotEveryEntries ?? DEFAULT_SNAPSHOT_EVERY_ENTRIES,
      ...(options.snapshotEveryBytes === undefined ? {} : { snapshotEveryBytes: options.snapshotEveryBytes }),
      stateMachine: machine,
      clock,
      random,
      logger: deps.logger ?? silentLogger,
      ...(deps.metricsRegistry === undefined ? {} : { metricsRegistry: deps.metricsRegistry }),
      ...(deps.addServices === undefined ? {} : { addServices: deps.addServices }),
    });
    const controller = new QuorumController({ ...options.controller, clusterId: options.clusterId }, { image: machine.image, random });
    const queue = new SerialQueue(options.decisionQueueMax ?? DEFAULT_DECISION_QUEUE_MAX);
    logger.info("metadata quorum member started", { clusterId: options.clusterId, ...machine.image.summary() });
    return new MetadataQuorum(options, raftNode, machine, controller, queue, clock, logger);
  }

  get nodeId(): number {
    return this.options.nodeId;
  }

  /** The port the Raft transport listens on (useful with listen.port 0). */
  get port(): number {
    return this.raftNode.port;
  }

  // ---- reading the image ----

  /** The latest applied image (immutable: hold it as long as you like). */
  get image(): MetadataImage {
    return this.machine.image;
  }

  /**
   * Calls `listener` with the new image after each applied batch and after a snapshot replaced
   * the image. Runs on the Raft apply path: keep it short; exceptions are logged and dropped.
   * Returns the function that unsubscribes.
   */
  onImage(listener: ImageListener): () => void {
    return this.machine.onImage(listener);
  }

  replayStats(): ReplayStats {
    return this.machine.replayStats;
  }

  /** Monotonic ms of the latest snapshot this member took or loaded; undefined if none since start. */
  get lastSnapshotMs(): number | undefined {
    return this.machine.lastSnapshotMs;
  }

  /** The Raft index this member has applied (no-ops and membership entries included), comparable with a leader's high watermark. */
  get appliedIndex(): number {
    return this.raftNode.status().appliedIndex;
  }

  /** Committed metadata log entries this member has not applied yet (its catch-up lag). */
  get applyLag(): number {
    const status = this.raftNode.status();
    return Math.max(0, status.commitIndex - status.appliedIndex);
  }

  // ---- who leads ----

  /** True while this member is the Raft leader and has caught up with the log: it decides. */
  get isActiveController(): boolean {
    return this.machine.controller !== undefined;
  }

  /** The Raft leader this member knows of (the active controller, or about to be), or -1. */
  get controllerId(): number {
    const leaderId = this.raftNode.status().leaderId;
    return leaderId > 0 ? leaderId : -1;
  }

  /** host:port of the Raft leader's controller listener, when known. */
  get controllerAddress(): string | undefined {
    const status = this.raftNode.status();
    return status.leaderId > 0 ? status.leaderAddress : undefined;
  }

  /** The Raft voters (controller ids) as this member knows them. */
  get voterIds(): number[] {
    return this.raftNode.status().voters.map((v) => v.nodeId);
  }

  /**
   * Leaders this member elected from outside the ISR (unclean.leader.election.enable) while it
   * was the active controller, since it started; each may have lost acknowledged records.
   */
  get uncleanLeaderElections(): number {
    return this.uncleanElectionsCommitted;
  }

  /** The last metadata offset this member has applied (a broker reports it in heartbeats). */
  get appliedOffset(): number {
    return this.machine.image.offset;
  }

  /**
   * Makes a registering broker-only node an observer of the metadata log (active controller
   * only): adds it to the Raft configuration unless it is a member already. Its address comes
   * from its registration, which every member also learns from the image.
   */
  async ensureObserver(nodeId: number, address: string): Promise<void> {
    const status = this.raftNode.status();
    if (status.role !== "leader") throw this.notControllerError();
    this.raftNode.setPeerAddress(nodeId, address);
    const members = [...status.voters, ...status.observers].map((m) => m.nodeId);
    if (members.includes(nodeId)) return;
    try {
      await this.raftNode.addObserver(nodeId, address);
      this.logger.info("added an observer to the metadata quorum", { observerId: nodeId, address });
    } catch (error) {
      throw this.appendFailedError(`add observer ${nodeId}`, error);
    }
  }

  /** `castle quorum describe --status` / `--replication` as this member sees it; ask the leader for the replication columns. */
  quorumStatus(): QuorumInfo {
    return describeQuorum(this.raftNode.status(), this.options.clusterId, this.clock.nowMs());
  }

  /** Throws NOT_CONTROLLER (naming the leader) unless this member is the active controller. */
  assertActiveController(): void {
    this.refreshLeadership();
    if (!this.isActiveController) throw this.notControllerError();
  }

  /** Broker sessions as the active controller tracks them (for `castle cluster describe`); NOT_CONTROLLER elsewhere. */
  brokerLiveness(): BrokerLiveness[] {
    this.refreshLeadership();
    const controller = this.machine.controller;
    if (!controller) throw this.notControllerError();
    return controller.liveness();
  }

  // ---- decisions (each: validated by the controller, committed as one batch, then answered) ----

  createTopics(requests: readonly CreateTopicRequest[], validateOnly = false): Promise<CreateTopicResult[]> {
    return this.decide("create topics", (c) => c.createTopics(requests, validateOnly));
  }

  deleteTopics(names: readonly string[]): Promise<TopicResult[]> {
    return this.decide("delete topics", (c) => c.deleteTopics(names));
  }

  createPartitions(requests: readonly CreatePartitionsRequest[], validateOnly = false): Promise<TopicResult[]> {
    return this.decide("create partitions", (c) => c.createPartitions(requests, validateOnly));
  }

  alterConfigs(requests: readonly AlterConfigsRequest[], validateOnly = false): Promise<AlterConfigsResult[]> {
    return this.decide("alter configs", (c) => c.alterConfigs(requests, validateOnly));
  }

  /** Rejects with a ProtocolError (INCONSISTENT_CLUSTER_ID, DUPLICATE_BROKER_REGISTRATION, ...) as the controller decides. */
  registerBroker(request: RegisterBrokerRequest): Promise<RegisterBrokerResult> {
    return this.decide("register broker", (c, nowMs) => c.registerBroker(request, nowMs));
  }

  /** Rejects with BROKER_ID_NOT_REGISTERED or STALE_BROKER_EPOCH: the broker must register again. */
  brokerHeartbeat(request: BrokerHeartbeatRequest): Promise<BrokerHeartbeatResult> {
    return this.decide("broker heartbeat", (c, nowMs) => c.brokerHeartbeat(request, nowMs));
  }

  unregisterBroker(brokerId: number): Promise<null> {
    return this.decide("unregister broker", (c) => c.unregisterBroker(brokerId));
  }

  allocateProducerIds(brokerId: number, brokerEpoch: number): Promise<ProducerIdsBlock> {
    return this.decide("allocate producer ids", (c) => c.allocateProducerIds(brokerId, brokerEpoch));
  }

  electPreferredLeaders(partitions: readonly TopicPartitionRef[] | "all"): Promise<ElectionResult[]> {
    return this.decide("elect preferred leaders", (c) => c.electPreferredLeaders(partitions));
  }

  /** A partition leader's ISR changes, answered per partition; rejects with BROKER_ID_NOT_REGISTERED or STALE_BROKER_EPOCH for the whole request. */
  alterPartition(request: AlterPartitionRequest): Promise<AlterPartitionResult[]> {
    return this.decide("alter partition", (c) => c.alterPartition(request));
  }

  /** Stops the timers and the Raft node; decisions still queued or in flight fail with NOT_CONTROLLER. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.leadershipTimer);
    clearInterval(this.tickTimer);
    if (this.isActiveController) this.becomeStandby("closing");
    await this.raftNode.close();
    this.logger.info("metadata quorum member closed");
  }

  // ---- the decision path ----

  private decide<T>(what: string, decide: Decide<T>): Promise<T> {
    this.refreshLeadership();
    if (!this.isActiveController) return Promise.reject(this.notControllerError());
    if (this.queue.isFull) {
      return Promise.reject(
        protocolError("REQUEST_TIMED_OUT", `the controller already has ${this.queue.queuedMax} decisions queued; retry later`, {
          decisionQueueMax: this.queue.queuedMax,
        }),
      );
    }
    const arrivedMs = this.clock.monotonicMs();
    return this.queue.run(() => this.decideAndCommit(what, decide, arrivedMs));
  }

  private async decideAndCommit<T>(what: string, decide: Decide<T>, arrivedMs: number): Promise<T> {
    this.refreshLeadership();
    const controller = this.machine.controller;
    if (!controller) throw this.notControllerError();
    let decision: ControllerResult<T>;
    try {
      decision = decide(controller, arrivedMs);
    } catch (error) {
      // A refused request leaves the controller as it was; anything else is a bug in it, and
      // its volatile state is no longer to be trusted.
      if (!(error instanceof ProtocolError)) this.resign(`${what} failed unexpectedly`);
      throw error;
    }
    if (decision.records.length === 0) return decision.result;
    const decidedOn = this.machine.image;
    try {
      await this.raftNode.propose(encodeMetadataBatch(decision.records));
    } catch (error) {
      this.resign(`the ${what} records were not committed`);
      throw this.appendFailedError(what, error);
    }
    this.countUncleanElections(decidedOn, decision.records);
    invariant(
      this.machine.controller !== controller || !controller.hasOutstandingRecords,
      () => `the ${what} records were committed but not replayed into the active controller`,
    );
    return decision.result;
  }

  private countUncleanElections(decidedOn: MetadataImage, records: readonly MetadataRecord[]): void {
    const unclean = uncleanElections(decidedOn, records);
    if (unclean.length === 0) return;
    this.uncleanElectionsCommitted += unclean.length;
    for (const change of unclean) {
      this.logger.warn("elected a leader outside the ISR (unclean election): records it lacks are lost", {
        topic: decidedOn.topicById(change.topicId)?.name ?? change.topicId,
        partition: change.partition,
        leader: change.leader,
        isrBefore: decidedOn.partition(change.topicId, change.partition)?.isr,
      });
    }
  }

  private maybeTick(): void {
    if (this.closed || this.tickQueued || this.queue.isFull) return;
    this.refreshLeadership();
    if (!this.isActiveController) return;
    this.tickQueued = true;
    const queuedMs = this.clock.monotonicMs();
    this.queue
      .run(() => this.decideAndCommit("tick", (c, nowMs) => c.tick(nowMs), queuedMs))
      .then(
        (result) => {
          if (result.fencedBrokers.length > 0 || result.rebalanced) this.logger.info("controller tick moved leadership", { ...result });
        },
        (error: unknown) => {
          if (!this.closed) this.logger.warn("controller tick failed", { error });
        },
      )
      .finally(() => {
        this.tickQueued = false;
      });
  }

  /** Every member keeps the Raft address of every registered broker, so whoever leads next can reach the observers. */
  private learnObserverAddresses(image: MetadataImage): void {
    for (const broker of image.brokers()) {
      const endpoint = broker.endpoints.find((e) => e.name === CONTROLLER_ENDPOINT);
      if (endpoint && broker.brokerId !== this.nodeId) this.raftNode.setPeerAddress(broker.brokerId, `${endpoint.host}:${endpoint.port}`);
    }
  }

  // ---- becoming and stopping being the active controller ----

  private refreshLeadership(): void {
    if (this.closed) return;
    const status = this.raftNode.status();
    const attached = this.machine.controller !== undefined;
    if (status.role !== "leader") {
      if (attached) this.becomeStandby(`Raft role is now ${status.role}`);
      this.activeTerm = -1;
      this.activation = undefined;
      return;
    }
    if (attached && status.term === this.activeTerm) return;
    if (attached) this.becomeStandby(`Raft term moved on to ${status.term}`);
    if (this.activation?.term !== status.term) this.activation = { term: status.term, barrierIndex: status.lastIndex };
    if (status.appliedIndex >= this.activation.barrierIndex) this.becomeActive(status);
  }

  private becomeActive(status: RaftNodeStatus): void {
    this.machine.attachController(this.controller);
    this.activeTerm = status.term;
    this.activation = undefined;
    this.logger.info("became the active controller", { term: status.term, appliedIndex: status.appliedIndex, ...this.image.summary() });
  }

  private becomeStandby(reason: string): void {
    this.machine.detachController();
    this.activeTerm = -1;
    this.logger.info("no longer the active controller", { reason });
  }

  /** After a failed append: stop deciding until the log (which may still hold the entry) is applied. */
  private resign(reason: string): void {
    if (this.isActiveController) this.becomeStandby(reason);
    const status = this.raftNode.status();
    this.activation = status.role === "leader" ? { term: status.term, barrierIndex: status.lastIndex } : undefined;
  }

  // ---- errors ----

  private notControllerError(cause?: string): ProtocolError {
    const status = this.raftNode.status();
    const leaderId = status.leaderId > 0 ? status.leaderId : -1;
    const where =
      leaderId === this.nodeId
        ? "it leads the Raft quorum but is still catching up with the metadata log; retry shortly"
        : leaderId > 0
          ? `the active controller is node ${leaderId} at ${status.leaderAddress ?? "an unknown address"}`
          : "no active controller is known yet (an election may be in progress); retry shortly";
    return protocolError("NOT_CONTROLLER", `node ${this.nodeId} is not the active controller; ${where}${cause ? ` (${cause})` : ""}`, {
      nodeId: this.nodeId,
      leaderId,
      leaderAddress: leaderId > 0 ? status.leaderAddress : undefined,
    });
  }

  private appendFailedError(what: string, error: unknown): Error {
    if (!(error instanceof RaftNodeError)) return error instanceof Error ? error : new Error(String(error));
    if (error.code === "TIMED_OUT") {
      return protocolError(
        "REQUEST_TIMED_OUT",
        `the ${what} records were not committed in time; the outcome is unknown: ${error.message}`,
        {
          nodeId: this.nodeId,
        },
      );
    }
    return this.notControllerError(`the ${what} records were not committed: ${error.message}`);
  }
}

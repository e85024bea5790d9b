// The active controller's decisions, as a pure class: it holds the committed MetadataImage and
// volatile state (broker heartbeat times, controlled shutdowns, registration offsets) and turns
// each request into { result, records } WITHOUT applying the records (KIP-631's controller).
//
// Contract with the driver (one decision at a time):
//   1. call one decision method; if it returns records, append them through Raft as one entry;
//   2. once that entry is committed, call replay(records, offset) (this is how the image
//      advances, on the active controller and on every other node alike), then answer;
//   3. if the append fails (leadership lost), call reset(image) with the committed image.
// A decision method called while records are outstanding (between 1 and 2) is a programmer
// error, because it would decide on an image that lacks them; tick() instead does nothing then.
// Time comes in as `nowMs` (monotonic milliseconds from the driver's Clock); randomness
// (topic ids, placement start index) from the Random port, so a seed replays every decision.

import { invariant, type Random } from "@castle/common";
import { ProtocolError, protocolError } from "@castle/protocol";
import { topicConfigDef, topicConfigValue, validateTopicConfigs } from "../config/topic-config.js";
import type { MetadataImage, PartitionState, TopicImage } from "../image/metadata-image.js";
import { type MetadataRecord, NO_LEADER, type PartitionChangeRecord } from "../records/metadata-record.js";
import { topicNameProblem, topicNamesCollide } from "../topics/topic-name.js";
import { type ControllerOptions, defaultControllerOptions } from "./controller-options.js";
import type {
  AlterConfigsRequest,
  AlterConfigsResult,
  AlterPartitionItem,
  AlterPartitionRequest,
  AlterPartitionResult,
  BrokerHeartbeatRequest,
  BrokerHeartbeatResult,
  ControllerResult,
  CreatePartitionsRequest,
  CreateTopicRequest,
  CreateTopicResult,
  ElectionResult,
  PartitionLeadership,
  ProducerIdsBlock,
  RegisterBrokerRequest,
  RegisterBrokerResult,
  TickResult,
  TopicPartitionRef,
  TopicResult,
} from "./controller-types.js";
import { partitionChange, withIsr, withLeaderIfPossible, withoutBrokers } from "./partition-change-builder.js";
import { emptyPlacementLoad, type PlacementLoad, placeReplicas } from "./replica-placer.js";

export interface QuorumControllerDeps {
  /** The committed image to start from (after loading a snapshot and replaying the log). */
  readonly image: MetadataImage;
  readonly random: Random;
}

/** Volatile view of one broker, for describe and metrics. */
export interface BrokerLiveness {
  readonly brokerId: number;
  readonly fenced: boolean;
  readonly lastHeartbeatMs: number | null;
  readonly inControlledShutdown: boolean;
}

export class QuorumController {
  readonly options: ControllerOptions;
  private current: MetadataImage;
  private readonly random: Random;
  /** Last heartbeat (or registration) per broker, monotonic ms. Unknown = not heard from since this controller became active. */
  private readonly heartbeats = new Map<number, number>();
  /**
   * Brokers that registered or heartbeated to this controller since it became active. Only
   * these can hold a live session against a new incarnation: after a failover the old
   * controller's knowledge is gone, and a broker that restarted meanwhile (the single node
   * restarting itself, above all) must not wait a whole session timeout to register again.
   */
  private readonly heardFrom = new Set<number>();
  private readonly shuttingDown = new Set<number>();
  /**
   * Offset of each broker's latest RegisterBroker record, as replayed by this controller while
   * active. A broker missing here (registered before this controller took over) must have caught
   * up to the whole image instead: conservative, never unfencing a broker that is behind.
   */
  private readonly registrationOffsets = new Map<number, number>();
  private outstanding = false;
  private nextRebalanceCheckMs: number | null = null;

  constructor(options: Partial<ControllerOptions> & Pick<ControllerOptions, "clusterId">, deps: QuorumControllerDeps) {
    this.options = { ...defaultControllerOptions, ...options };
    this.current = deps.image;
    this.random = deps.random;
  }

  get image(): MetadataImage {
    return this.current;
  }

  /** True between a decision that produced records and the replay() of those records. */
  get hasOutstandingRecords(): boolean {
    return this.outstanding;
  }

  /** Applies one committed batch (from this controller or, on a standby, from the log). */
  replay(batch: readonly MetadataRecord[], offset: number): void {
    this.current = this.current.apply(batch, offset);
    for (const record of batch) {
      if (record.type === "RegisterBroker") this.registrationOffsets.set(record.brokerId, offset);
      if (record.type === "UnregisterBroker") this.registrationOffsets.delete(record.brokerId);
    }
    this.outstanding = false;
  }

  /**
   * Restarts from a committed image: after a failed append, or on becoming the active
   * controller. Brokers get a full session from their next tick (KRaft does the same).
   */
  reset(image: MetadataImage): void {
    this.current = image;
    this.outstanding = false;
    this.heartbeats.clear();
    this.heardFrom.clear();
    // Registrations replayed elsewhere meanwhile are not in this map; forget it rather than trust it.
    this.registrationOffsets.clear();
    this.shuttingDown.clear();
    this.nextRebalanceCheckMs = null;
  }

  liveness(): BrokerLiveness[] {
    return this.current.brokers().map((b) => ({
      brokerId: b.brokerId,
      fenced: b.fenced,
      lastHeartbeatMs: this.heartbeats.get(b.brokerId) ?? null,
      inControlledShutdown: this.shuttingDown.has(b.brokerId),
    }));
  }

  // ---- topics -------------------------------------------------------------------------------

  createTopics(requests: readonly CreateTopicRequest[], validateOnly: boolean): ControllerResult<CreateTopicResult[]> {
    this.beginDecision();
    this.checkItemCount(requests.length);
    const image = this.current;
    const live = image.unfencedBrokers();
    const load = this.placementLoad();
    const accepted: string[] = [];
    const records: MetadataRecord[] = [];
    const results = requests.map((request): CreateTopicResult => {
      try {
        const partitions = request.numPartitions === -1 ? this.options.defaultNumPartitions : request.numPartitions;
        const replicationFactor = request.replicationFactor === -1 ? this.options.defaultReplicationFactor : request.replicationFactor;
        this.validateNewTopic(request.name, accepted);
        this.validatePartitionCount(partitions, 1);
        this.validateReplicationFactor(replicationFactor, live.length);
        const configs = validateTopicConfigs(request.configs);
        const topicId = this.newTopicId(records);
        const assignments = placeReplicas(live, load, partitions, replicationFactor, this.random.int(Math.max(1, live.length)));
        accepted.push(request.name);
        records.push({ type: "Topic", name: request.name, topicId });
        for (const name of Object.keys(configs).sort()) {
          records.push({ type: "Config", resourceType: "topic", resourceName: request.name, name, value: configs[name] ?? null });
        }
        assignments.forEach((replicas, partition) => {
          records.push(newPartitionRecord(topicId, partition, replicas));
        });
        return { name: request.name, error: null, topicId, numPartitions: partitions, replicationFactor, configs };
      } catch (error) {
        return { name: request.name, error: asProtocolError(error) };
      }
    });
    return this.decided(results, validateOnly ? [] : records);
  }

  deleteTopics(names: readonly string[]): ControllerResult<TopicResult[]> {
    this.beginDecision();
    this.checkItemCount(names.length);
    const records: MetadataRecord[] = [];
    const removed = new Set<string>();
    const results = names.map((name): TopicResult => {
      try {
        if (!this.options.deleteTopicEnable) {
          throw protocolError(
            "TOPIC_DELETION_DISABLED",
            "topic deletion is disabled; set delete.topic.enable=true on the controllers to allow it",
          );
        }
        const topic = this.existingTopic(name);
        if (!removed.has(name)) records.push({ type: "RemoveTopic", topicId: topic.topicId });
        removed.add(name);
        return { name, error: null };
      } catch (error) {
        return { name, error: asProtocolError(error) };
      }
    });
    return this.decided(results, records);
  }

  createPartitions(requests: readonly CreatePartitionsRequest[], validateOnly: boolean): ControllerResult<TopicResult[]> {
    this.beginDecision();
    this.checkItemCount(requests.length);
    const live = this.current.unfencedBrokers();
    const load = this.placementLoad();
    const records: MetadataRecord[] = [];
    const seen = new Set<string>();
    const results = requests.map((request): TopicResult => {
      try {
        if (seen.has(request.name)) throw protocolError("INVALID_REQUEST", `topic "${request.name}" appears twice in the request`);
        seen.add(request.name);
        const topic = this.existingTopic(request.name);
        const existing = topic.partitions.length;
        if (!Number.isInteger(request.count) || request.count <= existing) {
          throw protocolError(
            "INVALID_PARTITIONS",
            `topic "${topic.name}" has ${existing} partitions; the new count must be larger, got ${request.count} (partitions can only be added)`,
          );
        }
        this.validatePartitionCount(request.count, existing + 1);
        const replicationFactor = topic.partitions[0]?.replicas.length ?? 1;
        this.validateReplicationFactor(replicationFactor, live.length);
        const assignments = placeReplicas(
          live,
          load,
          request.count - existing,
          replicationFactor,
          this.random.int(Math.max(1, live.length)),
        );
        assignments.forEach((replicas, i) => {
          records.push(newPartitionRecord(topic.topicId, existing + i, replicas));
        });
        return { name: request.name, error: null };
      } catch (error) {
        return { name: request.name, error: asProtocolError(error) };
      }
    });
    return this.decided(results, validateOnly ? [] : records);
  }

  /** Incremental alter (KIP-339): set or delete individual keys; every value validated. */
  alterConfigs(requests: readonly AlterConfigsRequest[], validateOnly: boolean): ControllerResult<AlterConfigsResult[]> {
    this.beginDecision();
    this.checkItemCount(requests.length);
    const records: MetadataRecord[] = [];
    const results = requests.map((request): AlterConfigsResult => {
      const { resourceType, resourceName } = request;
      try {
        if (resourceType !== "topic") {
          throw protocolError(
            "INVALID_REQUEST",
            "broker configs are static in this version; change them in the node's config file and restart it",
          );
        }
        this.existingTopic(resourceName);
        const current = this.current.topicConfigs(resourceName);
        const toSet: Record<string, string> = {};
        const toDelete = new Set<string>();
        const problems: string[] = [];
        for (const change of request.changes) {
          if (!topicConfigDef(change.name)) problems.push(`unknown topic config "${change.name}"`);
          else if (change.op === "delete") toDelete.add(change.name);
          else toSet[change.name] = change.value;
        }
        if (problems.length > 0) throw protocolError("INVALID_CONFIG", problems.join("; "), { resource: resourceName });
        const valid = validateTopicConfigs(toSet);
        for (const name of Object.keys(valid).sort()) {
          if (current[name] !== valid[name]) records.push({ type: "Config", resourceType, resourceName, name, value: valid[name] ?? null });
        }
        for (const name of [...toDelete].sort()) {
          if (current[name] !== undefined && valid[name] === undefined) {
            records.push({ type: "Config", resourceType, resourceName, name, value: null });
          }
        }
        return { resourceType, resourceName, error: null };
      } catch (error) {
        return { resourceType, resourceName, error: asProtocolError(error) };
      }
    });
    return this.decided(results, validateOnly ? [] : records);
  }

  // ---- brokers ------------------------------------------------------------------------------

  /**
   * A broker (re)registers at start. Each registration gets a new epoch and starts fenced; the
   * broker is unfenced by a heartbeat once it has caught up with the log. A registration of an
   * id whose previous incarnation still holds a live session is refused; one that replaces a
   * dead or restarted incarnation first moves leadership away from it (KIP-841).
   */
  registerBroker(request: RegisterBrokerRequest, nowMs: number): ControllerResult<RegisterBrokerResult> {
    this.beginDecision();
    if (request.clusterId !== this.options.clusterId) {
      throw protocolError(
        "INCONSISTENT_CLUSTER_ID",
        `broker ${request.brokerId} belongs to cluster ${request.clusterId}, but this is cluster ${this.options.clusterId}; point it at its own cluster or re-format its data directory`,
        { brokerId: request.brokerId },
      );
    }
    if (!Number.isSafeInteger(request.brokerId) || request.brokerId < 0) {
      throw protocolError("INVALID_REQUEST", `broker id must be a non-negative integer, got ${request.brokerId}`);
    }
    const badEndpoint = request.endpoints.find((e) => !Number.isInteger(e.port) || e.port < 0 || e.port > 65535 || e.host === "");
    if (badEndpoint)
      throw protocolError("INVALID_REQUEST", `broker ${request.brokerId} endpoint ${badEndpoint.name} has no valid host:port`);
    const previous = this.current.broker(request.brokerId);
    if (previous && previous.incarnationId !== request.incarnationId && this.hasLiveSession(request.brokerId, nowMs)) {
      throw protocolError(
        "DUPLICATE_BROKER_REGISTRATION",
        `broker id ${request.brokerId} is registered by another live process (incarnation ${previous.incarnationId}); give this node another node.id or stop the other one`,
        { brokerId: request.brokerId },
      );
    }
    const records: MetadataRecord[] = [];
    if (previous && !previous.fenced) records.push(...this.leadershipMovesAway(new Set([request.brokerId])));
    const brokerEpoch = this.current.brokerEpochLast + 1;
    records.push({
      type: "RegisterBroker",
      brokerId: request.brokerId,
      incarnationId: request.incarnationId,
      brokerEpoch,
      endpoints: request.endpoints,
      rack: request.rack,
      fenced: true,
    });
    this.heartbeats.set(request.brokerId, nowMs);
    this.heardFrom.add(request.brokerId);
    this.shuttingDown.delete(request.brokerId);
    return this.decided({ brokerEpoch }, records);
  }

  /**
   * A registered broker's heartbeat. Renews its session; unfences it once it has caught up (and
   * gives it leadership of leaderless partitions it can lead); with wantShutdown, runs
   * controlled shutdown: every partition it leads gets another ISR member as leader, it leaves
   * every ISR it is in (unless it is the last member), and it is fenced, all in one batch.
   */
  brokerHeartbeat(request: BrokerHeartbeatRequest, nowMs: number): ControllerResult<BrokerHeartbeatResult> {
    this.beginDecision();
    const broker = this.expectRegistered(request.brokerId, request.brokerEpoch);
    this.heartbeats.set(broker.brokerId, nowMs);
    this.heardFrom.add(broker.brokerId);
    const isCaughtUp = request.metadataOffset >= (this.registrationOffsets.get(broker.brokerId) ?? this.current.offset);
    if (request.wantShutdown || this.shuttingDown.has(broker.brokerId)) {
      const records: MetadataRecord[] = [];
      if (!broker.fenced) {
        records.push(...this.leadershipMovesAway(new Set([broker.brokerId])));
        records.push({ type: "FenceBroker", brokerId: broker.brokerId, brokerEpoch: broker.brokerEpoch });
      }
      this.shuttingDown.add(broker.brokerId);
      return this.decided({ isFenced: true, shouldShutDown: true, isCaughtUp }, records);
    }
    if (broker.fenced && isCaughtUp) {
      const records: MetadataRecord[] = [{ type: "UnfenceBroker", brokerId: broker.brokerId, brokerEpoch: broker.brokerEpoch }];
      const isLive = (id: number): boolean => id === broker.brokerId || this.current.isUnfenced(id);
      this.forEachPartition((topic, partition) => {
        if (partition.leader !== NO_LEADER || !partition.replicas.includes(broker.brokerId)) return;
        const change = partitionChange(partition, withLeaderIfPossible(partition, isLive, this.uncleanAllowed(topic)));
        if (change) records.push(change);
      });
      return this.decided({ isFenced: false, shouldShutDown: false, isCaughtUp }, records);
    }
    return this.decided({ isFenced: broker.fenced, shouldShutDown: false, isCaughtUp }, []);
  }

  /** Decommission (KIP-631 UnregisterBroker): leadership moves away first, in the same batch. */
  unregisterBroker(brokerId: number): ControllerResult<null> {
    this.beginDecision();
    const broker = this.current.broker(brokerId);
    if (!broker) throw protocolError("BROKER_ID_NOT_REGISTERED", `broker ${brokerId} is not registered`, { brokerId });
    const records: MetadataRecord[] = broker.fenced ? [] : this.leadershipMovesAway(new Set([brokerId]));
    records.push({ type: "UnregisterBroker", brokerId, brokerEpoch: broker.brokerEpoch });
    this.heartbeats.delete(brokerId);
    this.heardFrom.delete(brokerId);
    this.shuttingDown.delete(brokerId);
    return this.decided(null, records);
  }

  /** Hands a block of producer ids to a broker (KIP-730); the block is the broker's once committed. */
  allocateProducerIds(brokerId: number, brokerEpoch: number): ControllerResult<ProducerIdsBlock> {
    this.beginDecision();
    this.expectRegistered(brokerId, brokerEpoch);
    const first = this.current.producerIds.nextProducerId;
    const count = this.options.producerIdBlockSize;
    return this.decided({ firstProducerId: first, count }, [{ type: "ProducerIds", brokerId, brokerEpoch, nextProducerId: first + count }]);
  }

  // ---- ISR changes (partition leaders' requests) ---------------------------------------------

  /**
   * A partition leader shrinks or expands its ISR (Kafka's AlterPartition, KIP-497; who may join
   * from KIP-841). The whole request is refused (thrown) when it names too many partitions or
   * the asker is not registered with that broker epoch (STALE_BROKER_EPOCH,
   * BROKER_ID_NOT_REGISTERED), as heartbeats are. Otherwise each partition is answered on its
   * own, with the checks of Kafka's ReplicationControlManager in its order (see
   * alterPartitionProblem). An accepted change is one PartitionChange with the new ISR, which
   * bumps the partition epoch and not the leader epoch; an ISR equal to the current one writes
   * nothing and is answered with the partition as it is.
   */
  alterPartition(request: AlterPartitionRequest): ControllerResult<AlterPartitionResult[]> {
    this.beginDecision();
    this.checkItemCount(request.partitions.length);
    this.expectRegistered(request.brokerId, request.brokerEpoch);
    const records: PartitionChangeRecord[] = [];
    const seen = new Set<string>();
    const results = request.partitions.map((item): AlterPartitionResult => {
      const { topicId, partition: index } = item;
      const partition = this.current.partition(topicId, index);
      try {
        const key = `${topicId}\u0000${index}`;
        if (seen.has(key)) {
          throw protocolError("INVALID_REQUEST", `partition ${index} of topic id ${topicId} appears twice in the request`, {
            topicId,
            partition: index,
          });
        }
        seen.add(key);
        if (!partition) {
          throw protocolError("UNKNOWN_TOPIC_OR_PARTITION", `partition ${index} of topic id ${topicId} does not exist`, {
            topicId,
            partition: index,
          });
        }
        const problem = this.alterPartitionProblem(request.brokerId, item, partition);
        if (problem) throw problem;
        const target = withIsr(partition, item.newIsr);
        const unchanged = target.isr.length === partition.isr.length && target.isr.every((id) => partition.isr.includes(id));
        if (unchanged) return { topicId, partition: index, error: null, state: leadershipOf(partition) };
        const change = partitionChange(partition, target);
        invariant(change?.isr !== undefined && change.leader === undefined, "an ISR change from the leader changes the ISR alone");
        records.push(change);
        const state = { ...leadershipOf(partition), isr: target.isr, partitionEpoch: partition.partitionEpoch + 1 };
        return { topicId, partition: index, error: null, state };
      } catch (error) {
        return { topicId, partition: index, error: asProtocolError(error), state: partition ? leadershipOf(partition) : null };
      }
    });
    return this.decided(results, records);
  }

  /**
   * Why the ISR change `item` from broker `asker` is refused, or null. Kafka's order: epochs
   * newer than this controller's mean this controller is behind, so likely deposed
   * (NOT_CONTROLLER: the leader looks for the new one); an older leader epoch, FENCED_LEADER_EPOCH;
   * an asker that is not the leader, NOT_LEADER_OR_FOLLOWER (Kafka answers INVALID_REQUEST); an
   * older partition epoch (the ISR changed meanwhile), INVALID_UPDATE_VERSION; an ISR without the
   * leader or with a member twice, INVALID_REQUEST; a member that is not a replica, or one joining
   * while fenced, unregistered or in controlled shutdown, INELIGIBLE_REPLICA. Members already in
   * the ISR may stay and any may leave (KIP-841 judges only who joins here: the controller itself
   * takes fenced brokers out of ISRs).
   */
  private alterPartitionProblem(asker: number, item: AlterPartitionItem, partition: PartitionState): ProtocolError | null {
    const topic = this.current.topicById(partition.topicId);
    invariant(topic, "a partition in the image belongs to a topic in the image");
    const name = `${topic.name}-${partition.partition}`;
    const context = { topic: topic.name, partition: partition.partition };
    const current = `leader epoch ${partition.leaderEpoch}, partition epoch ${partition.partitionEpoch}`;
    if (item.leaderEpoch > partition.leaderEpoch || item.partitionEpoch > partition.partitionEpoch) {
      return protocolError(
        "NOT_CONTROLLER",
        `${name}: the request's leader epoch ${item.leaderEpoch} and partition epoch ${item.partitionEpoch} are ahead of this controller's (${current}); it is behind, so likely no longer the active controller`,
        context,
      );
    }
    if (item.leaderEpoch < partition.leaderEpoch) {
      return protocolError(
        "FENCED_LEADER_EPOCH",
        `${name}: leader epoch ${item.leaderEpoch} is older than the current ${partition.leaderEpoch}; broker ${partition.leader} leads it now`,
        { ...context, leaderId: partition.leader, leaderEpoch: partition.leaderEpoch },
      );
    }
    if (asker !== partition.leader) {
      const leads = partition.leader === NO_LEADER ? "it has no leader" : `broker ${partition.leader} leads it`;
      return protocolError("NOT_LEADER_OR_FOLLOWER", `broker ${asker} does not lead ${name}; ${leads}`, {
        ...context,
        leaderId: partition.leader,
      });
    }
    if (item.partitionEpoch < partition.partitionEpoch) {
      return protocolError(
        "INVALID_UPDATE_VERSION",
        `${name}: partition epoch ${item.partitionEpoch} is stale; the current one is ${partition.partitionEpoch}, with ISR [${partition.isr.join(",")}]`,
        { ...context, partitionEpoch: partition.partitionEpoch },
      );
    }
    const isr = `[${item.newIsr.join(",")}]`;
    const twice = item.newIsr.find((id, i) => item.newIsr.indexOf(id) !== i);
    if (twice !== undefined) return protocolError("INVALID_REQUEST", `${name}: the new ISR ${isr} lists broker ${twice} twice`, context);
    if (!item.newIsr.includes(partition.leader)) {
      return protocolError("INVALID_REQUEST", `${name}: the new ISR ${isr} must include the leader ${partition.leader}`, context);
    }
    const stranger = item.newIsr.find((id) => !partition.replicas.includes(id));
    if (stranger !== undefined) {
      return protocolError(
        "INELIGIBLE_REPLICA",
        `${name}: broker ${stranger} in the new ISR ${isr} is not one of its replicas [${partition.replicas.join(",")}]`,
        { ...context, brokerId: stranger },
      );
    }
    for (const id of item.newIsr) {
      if (partition.isr.includes(id)) continue;
      const why = this.ineligibility(id);
      if (why) {
        return protocolError("INELIGIBLE_REPLICA", `${name}: broker ${id} cannot join the ISR: it is ${why}`, { ...context, brokerId: id });
      }
    }
    return null;
  }

  /** Why a broker may not join an ISR (KIP-841), or null. */
  private ineligibility(brokerId: number): string | null {
    const broker = this.current.broker(brokerId);
    if (!broker) return "not registered";
    if (this.shuttingDown.has(brokerId)) return "in controlled shutdown";
    if (broker.fenced) return "fenced";
    return null;
  }

  // ---- time ---------------------------------------------------------------------------------

  /**
   * Fences every unfenced broker whose last heartbeat is more than brokerSessionTimeoutMs
   * before `nowMs`, and gives every partition it led a new leader from its ISR, all in one
   * batch. When nothing is fenced and a leader-imbalance check is due, rebalances instead.
   * Does nothing while records are outstanding (the next tick will look again).
   */
  tick(nowMs: number): ControllerResult<TickResult> {
    const idle: TickResult = { fencedBrokers: [], leaderChanges: 0, offlinePartitions: 0, rebalanced: false };
    if (this.outstanding) return { result: idle, records: [] };
    const expired: number[] = [];
    for (const broker of this.current.brokers()) {
      if (broker.fenced) continue;
      const last = this.heartbeats.get(broker.brokerId);
      if (last === undefined) this.heartbeats.set(broker.brokerId, nowMs);
      else if (nowMs - last > this.options.brokerSessionTimeoutMs) expired.push(broker.brokerId);
    }
    if (expired.length > 0) {
      const records = this.leadershipMovesAway(new Set(expired));
      const leaderChanges = records.filter((r) => r.type === "PartitionChange" && r.leader !== undefined).length;
      const offlinePartitions = records.filter((r) => r.type === "PartitionChange" && r.leader === NO_LEADER).length;
      for (const brokerId of expired) {
        const broker = this.current.broker(brokerId);
        invariant(broker, "expired broker is registered");
        records.push({ type: "FenceBroker", brokerId, brokerEpoch: broker.brokerEpoch });
      }
      return this.decided({ fencedBrokers: expired, leaderChanges, offlinePartitions, rebalanced: false }, records);
    }
    if (!this.options.autoLeaderRebalanceEnable) return { result: idle, records: [] };
    this.nextRebalanceCheckMs ??= nowMs + this.options.leaderImbalanceCheckIntervalMs;
    if (nowMs < this.nextRebalanceCheckMs) return { result: idle, records: [] };
    this.nextRebalanceCheckMs = nowMs + this.options.leaderImbalanceCheckIntervalMs;
    const records = this.rebalanceRecords();
    return this.decided({ ...idle, leaderChanges: records.length, rebalanced: records.length > 0 }, records);
  }

  // ---- leadership ---------------------------------------------------------------------------

  /**
   * Preferred-leader election (KIP-460): the first replica becomes leader where it is live and
   * in the ISR. With "all", every partition that needs and allows it, and results only for those.
   */
  electPreferredLeaders(partitions: readonly TopicPartitionRef[] | "all"): ControllerResult<ElectionResult[]> {
    this.beginDecision();
    const records: PartitionChangeRecord[] = [];
    const results: ElectionResult[] = [];
    if (partitions === "all") {
      this.forEachPartition((topic, partition) => {
        const change = this.preferredChange(partition);
        if (!change) return;
        records.push(change);
        results.push({ topic: topic.name, partition: partition.partition, error: null, leader: partition.replicas[0] as number });
      });
      return this.decided(results, records);
    }
    this.checkItemCount(partitions.length);
    const seen = new Set<string>();
    for (const ref of partitions) {
      const key = `${ref.topic}\u0000${ref.partition}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const partition = this.current.topic(ref.topic)?.partitions[ref.partition];
      if (!partition) {
        results.push({
          ...ref,
          error: protocolError("UNKNOWN_TOPIC_OR_PARTITION", `partition ${ref.topic}-${ref.partition} does not exist`),
        });
        continue;
      }
      const preferred = partition.replicas[0] as number;
      if (partition.leader === preferred) {
        results.push({
          ...ref,
          error: protocolError("ELECTION_NOT_NEEDED", `broker ${preferred} already leads ${ref.topic}-${ref.partition}`),
        });
        continue;
      }
      const change = this.preferredChange(partition);
      if (!change) {
        const why = this.current.isUnfenced(preferred) ? "is not in the ISR" : "is fenced or not registered";
        results.push({
          ...ref,
          error: protocolError("PREFERRED_LEADER_NOT_AVAILABLE", `preferred leader ${preferred} of ${ref.topic}-${ref.partition} ${why}`),
        });
        continue;
      }
      records.push(change);
      results.push({ ...ref, error: null, leader: preferred });
    }
    return this.decided(results, records);
  }

  /** Partitions each broker currently leads, and prefers to lead (is first replica of). */
  leadershipCounts(): Map<number, { leading: number; preferred: number }> {
    const counts = new Map<number, { leading: number; preferred: number }>();
    const entry = (id: number): { leading: number; preferred: number } => {
      let found = counts.get(id);
      if (!found) {
        found = { leading: 0, preferred: 0 };
        counts.set(id, found);
      }
      return found;
    };
    this.forEachPartition((_topic, partition) => {
      if (partition.leader !== NO_LEADER) entry(partition.leader).leading++;
      entry(partition.replicas[0] as number).preferred++;
    });
    return counts;
  }

  /**
   * Kafka's auto rebalance: a live broker that does not lead more than
   * leaderImbalancePerBrokerPercentage of the partitions it prefers gets them back, where it
   * is in the ISR.
   */
  private rebalanceRecords(): PartitionChangeRecord[] {
    const imbalanced = new Set<number>();
    const counts = new Map<number, { preferred: number; notLeading: number }>();
    this.forEachPartition((_topic, partition) => {
      const preferred = partition.replicas[0] as number;
      const count = counts.get(preferred) ?? { preferred: 0, notLeading: 0 };
      count.preferred++;
      if (partition.leader !== preferred) count.notLeading++;
      counts.set(preferred, count);
    });
    for (const [brokerId, count] of counts) {
      const ratioPercent = (count.notLeading * 100) / count.preferred;
      if (this.current.isUnfenced(brokerId) && ratioPercent > this.options.leaderImbalancePerBrokerPercentage) imbalanced.add(brokerId);
    }
    const records: PartitionChangeRecord[] = [];
    if (imbalanced.size === 0) return records;
    this.forEachPartition((_topic, partition) => {
      if (!imbalanced.has(partition.replicas[0] as number)) return;
      const change = this.preferredChange(partition);
      if (change) records.push(change);
    });
    return records;
  }

  private preferredChange(partition: PartitionState): PartitionChangeRecord | null {
    const preferred = partition.replicas[0] as number;
    if (partition.leader === preferred || !partition.isr.includes(preferred) || !this.current.isUnfenced(preferred)) return null;
    return partitionChange(partition, { leader: preferred, isr: partition.isr });
  }

  /** Records that take `removed` out of every ISR and leadership, electing replacements. */
  private leadershipMovesAway(removed: ReadonlySet<number>): MetadataRecord[] {
    const records: MetadataRecord[] = [];
    const isLive = (id: number): boolean => this.current.isUnfenced(id);
    this.forEachPartition((topic, partition) => {
      if (!partition.isr.some((id) => removed.has(id)) && !removed.has(partition.leader)) return;
      const change = partitionChange(partition, withoutBrokers(partition, removed, isLive, this.uncleanAllowed(topic)));
      if (change) records.push(change);
    });
    return records;
  }

  // ---- helpers ------------------------------------------------------------------------------

  private beginDecision(): void {
    invariant(!this.outstanding, "controller decision requested while the previous decision's records are not replayed yet");
  }

  private decided<T>(result: T, records: readonly MetadataRecord[]): ControllerResult<T> {
    if (records.length > 0) this.outstanding = true;
    return { result, records };
  }

  private checkItemCount(count: number): void {
    if (count > this.options.requestItemsMax) {
      throw protocolError("INVALID_REQUEST", `the request names ${count} items; at most ${this.options.requestItemsMax} are allowed`);
    }
  }

  private forEachPartition(visit: (topic: TopicImage, partition: PartitionState) => void): void {
    for (const topic of this.current.topics()) for (const partition of topic.partitions) visit(topic, partition);
  }

  private uncleanAllowed(topic: TopicImage): boolean {
    return topicConfigValue(this.current.topicConfigs(topic.name), "unclean.leader.election.enable") === true;
  }

  private hasLiveSession(brokerId: number, nowMs: number): boolean {
    const broker = this.current.broker(brokerId);
    const last = this.heartbeats.get(brokerId);
    if (!broker || broker.fenced || !this.heardFrom.has(brokerId)) return false;
    return last !== undefined && nowMs - last <= this.options.brokerSessionTimeoutMs;
  }

  private expectRegistered(brokerId: number, brokerEpoch: number): { brokerId: number; brokerEpoch: number; fenced: boolean } {
    const broker = this.current.broker(brokerId);
    if (!broker)
      throw protocolError("BROKER_ID_NOT_REGISTERED", `broker ${brokerId} is not registered; it must register first`, { brokerId });
    if (broker.brokerEpoch !== brokerEpoch) {
      throw protocolError(
        "STALE_BROKER_EPOCH",
        `broker ${brokerId} sent epoch ${brokerEpoch}, but its registration has epoch ${broker.brokerEpoch}; it must register again`,
        { brokerId, brokerEpoch, currentEpoch: broker.brokerEpoch },
      );
    }
    return broker;
  }

  private existingTopic(name: string): TopicImage {
    const topic = this.current.topic(name);
    if (!topic) throw protocolError("UNKNOWN_TOPIC_OR_PARTITION", `topic "${name}" does not exist`, { topic: name });
    return topic;
  }

  private validateNewTopic(name: string, acceptedInRequest: readonly string[]): void {
    const problem = topicNameProblem(name);
    if (problem) throw protocolError("INVALID_TOPIC_EXCEPTION", problem, { topic: name });
    if (this.current.topic(name) || acceptedInRequest.includes(name)) {
      throw protocolError("TOPIC_ALREADY_EXISTS", `topic "${name}" already exists`, { topic: name });
    }
    const collision =
      acceptedInRequest.find((other) => topicNamesCollide(other, name)) ??
      this.current.topics().find((t) => topicNamesCollide(t.name, name))?.name;
    if (collision) {
      throw protocolError(
        "INVALID_TOPIC_EXCEPTION",
        `topic "${name}" collides with existing topic "${collision}" ('.' and '_' are the same in metric names)`,
        { topic: name },
      );
    }
  }

  private validatePartitionCount(count: number, min: number): void {
    if (!Number.isInteger(count) || count < min)
      throw protocolError("INVALID_PARTITIONS", `partition count must be at least ${min}, got ${count}`);
    if (count > this.options.partitionsPerTopicMax) {
      throw protocolError(
        "INVALID_PARTITIONS",
        `${count} partitions exceeds the maximum of ${this.options.partitionsPerTopicMax} per topic`,
      );
    }
  }

  private validateReplicationFactor(replicationFactor: number, liveBrokers: number): void {
    if (!Number.isInteger(replicationFactor) || replicationFactor < 1) {
      throw protocolError("INVALID_REPLICATION_FACTOR", `replication factor must be at least 1, got ${replicationFactor}`);
    }
    if (replicationFactor > liveBrokers) {
      throw protocolError(
        "INVALID_REPLICATION_FACTOR",
        `replication factor ${replicationFactor} is larger than the ${liveBrokers} live (registered and unfenced) broker(s); lower it or start more brokers`,
        { replicationFactor, liveBrokers },
      );
    }
  }

  /** Placement counts from the image: preferred leaderships and replicas per broker. */
  private placementLoad(): PlacementLoad {
    const load = emptyPlacementLoad();
    this.forEachPartition((_topic, partition) => {
      const preferred = partition.replicas[0] as number;
      load.leaders.set(preferred, (load.leaders.get(preferred) ?? 0) + 1);
      for (const id of partition.replicas) load.replicas.set(id, (load.replicas.get(id) ?? 0) + 1);
    });
    return load;
  }

  /** Kafka-style id: 16 random bytes, URL-safe base64 without padding; never one in use or in this batch. */
  private newTopicId(pending: readonly MetadataRecord[]): string {
    for (let attempt = 0; attempt < 8; attempt++) {
      const bytes = new Uint8Array(16);
      for (let i = 0; i < bytes.length; i++) bytes[i] = this.random.int(256);
      const id = Buffer.from(bytes).toString("base64url");
      if (!this.current.topicById(id) && !pending.some((r) => r.type === "Topic" && r.topicId === id)) return id;
    }
    invariant(false, "no fresh topic id after 8 attempts: the Random port is broken");
  }
}

function newPartitionRecord(topicId: string, partition: number, replicas: readonly number[]): MetadataRecord {
  return {
    type: "Partition",
    topicId,
    partition,
    replicas: [...replicas],
    isr: [...replicas],
    leader: replicas[0] as number,
    leaderEpoch: 0,
    partitionEpoch: 0,
  };
}

function leadershipOf(partition: PartitionState): PartitionLeadership {
  return {
    leader: partition.leader,
    leaderEpoch: partition.leaderEpoch,
    isr: [...partition.isr],
    partitionEpoch: partition.partitionEpoch,
  };
}

function asProtocolError(error: unknown): ProtocolError {
  if (error instanceof ProtocolError) return error;
  throw error;
}

// Builds the next MetadataImage from a base image and a batch of records. Collections are copied
// on first write, once per batch, so a batch costs the size of the collections it touches, not
// one copy per record. Every record is checked against the state it lands on; a record that
// does not fit is a broken invariant (the controller validated it before writing).

import { invariant } from "@castle/common";
import {
  type ConfigRecord,
  type MetadataRecord,
  NO_LEADER,
  type PartitionChangeRecord,
  type PartitionRecord,
  type RegisterBrokerRecord,
} from "../records/metadata-record.js";
import {
  assertImageOffset,
  type BrokerRegistration,
  type Configs,
  type ImageState,
  MetadataImage,
  type PartitionState,
  type ProducerIdsState,
  type TopicImage,
} from "./metadata-image.js";

interface TopicDraft {
  readonly name: string;
  readonly topicId: string;
  readonly partitions: PartitionState[];
}

export class MetadataDelta {
  private readonly base: ImageState;
  private brokers: Map<number, BrokerRegistration> | null = null;
  private topicsById: Map<string, TopicImage> | null = null;
  private topicIdsByName: Map<string, string> | null = null;
  private readonly topicDrafts = new Map<string, TopicDraft>();
  private topicConfigs: Map<string, Configs> | null = null;
  private brokerConfigs: Map<string, Configs> | null = null;
  private brokerEpochLast: number;
  private producerIds: ProducerIdsState;
  private recordCount = 0;

  constructor(base: MetadataImage) {
    this.base = base.state;
    this.brokerEpochLast = base.state.brokerEpochLast;
    this.producerIds = base.state.producerIds;
  }

  /** Records replayed so far. */
  get size(): number {
    return this.recordCount;
  }

  replay(record: MetadataRecord): void {
    this.recordCount++;
    switch (record.type) {
      case "RegisterBroker":
        this.replayRegisterBroker(record);
        return;
      case "UnregisterBroker": {
        this.expectBroker(record.brokerId, record.brokerEpoch, record.type);
        this.writableBrokers().delete(record.brokerId);
        return;
      }
      case "FenceBroker":
      case "UnfenceBroker": {
        const broker = this.expectBroker(record.brokerId, record.brokerEpoch, record.type);
        this.writableBrokers().set(record.brokerId, { ...broker, fenced: record.type === "FenceBroker" });
        return;
      }
      case "Topic": {
        invariant(!this.topicIdsView().has(record.name), () => `Topic record for existing topic name ${record.name}`);
        invariant(!this.topicExists(record.topicId), () => `Topic record reuses topic id ${record.topicId}`);
        this.writableTopicIdsByName().set(record.name, record.topicId);
        this.topicDrafts.set(record.topicId, { name: record.name, topicId: record.topicId, partitions: [] });
        this.writableTopicsById();
        return;
      }
      case "Partition":
        this.replayPartition(record);
        return;
      case "PartitionChange":
        this.replayPartitionChange(record);
        return;
      case "Config":
        this.replayConfig(record);
        return;
      case "RemoveTopic": {
        const draft = this.draft(record.topicId, record.type);
        this.topicDrafts.delete(record.topicId);
        this.writableTopicsById().delete(record.topicId);
        this.writableTopicIdsByName().delete(draft.name);
        if (this.topicConfigsView().has(draft.name)) this.writableConfigs("topic").delete(draft.name);
        return;
      }
      case "ProducerIds": {
        invariant(
          record.nextProducerId > this.producerIds.nextProducerId,
          () => `ProducerIds record moves nextProducerId from ${this.producerIds.nextProducerId} to ${record.nextProducerId}`,
        );
        this.producerIds = { nextProducerId: record.nextProducerId, brokerId: record.brokerId, brokerEpoch: record.brokerEpoch };
        return;
      }
    }
  }

  /** The image at `offset` (the Raft index of the batch). The delta must not be used after. */
  build(offset: number): MetadataImage {
    assertImageOffset(this.base.offset, offset);
    let topicsById = this.base.topicsById;
    if (this.topicsById) {
      for (const draft of this.topicDrafts.values()) {
        this.topicsById.set(draft.topicId, { name: draft.name, topicId: draft.topicId, partitions: draft.partitions });
      }
      topicsById = this.topicsById;
    }
    return new MetadataImage({
      offset,
      brokerEpochLast: this.brokerEpochLast,
      brokers: this.brokers ?? this.base.brokers,
      topicsById,
      topicIdsByName: this.topicIdsByName ?? this.base.topicIdsByName,
      topicConfigs: this.topicConfigs ?? this.base.topicConfigs,
      brokerConfigs: this.brokerConfigs ?? this.base.brokerConfigs,
      producerIds: this.producerIds,
    });
  }

  /** Raises brokerEpochLast (snapshot load: epochs of unregistered brokers are not in any record). */
  raiseBrokerEpochLast(epoch: number): void {
    invariant(epoch >= this.brokerEpochLast, () => `broker epoch high-water mark ${epoch} is below ${this.brokerEpochLast}`);
    this.brokerEpochLast = epoch;
  }

  private replayRegisterBroker(record: RegisterBrokerRecord): void {
    const previous = this.brokersView().get(record.brokerId);
    invariant(
      !previous || record.brokerEpoch > previous.brokerEpoch,
      () => `RegisterBroker for broker ${record.brokerId} has epoch ${record.brokerEpoch}, not above ${previous?.brokerEpoch}`,
    );
    this.writableBrokers().set(record.brokerId, {
      brokerId: record.brokerId,
      incarnationId: record.incarnationId,
      brokerEpoch: record.brokerEpoch,
      endpoints: record.endpoints.map((e) => ({ name: e.name, host: e.host, port: e.port })),
      rack: record.rack,
      fenced: record.fenced,
    });
    this.brokerEpochLast = Math.max(this.brokerEpochLast, record.brokerEpoch);
  }

  private replayPartition(record: PartitionRecord): void {
    const draft = this.draft(record.topicId, record.type);
    invariant(
      record.partition === draft.partitions.length,
      () => `Partition record ${draft.name}-${record.partition} out of order: the topic has ${draft.partitions.length} partitions`,
    );
    const state: PartitionState = {
      topicId: record.topicId,
      partition: record.partition,
      replicas: [...record.replicas],
      isr: [...record.isr],
      leader: record.leader,
      leaderEpoch: record.leaderEpoch,
      partitionEpoch: record.partitionEpoch,
    };
    assertPartitionShape(state, draft.name);
    draft.partitions.push(state);
  }

  private replayPartitionChange(record: PartitionChangeRecord): void {
    const draft = this.draft(record.topicId, record.type);
    const current = draft.partitions[record.partition];
    invariant(current, () => `PartitionChange for unknown partition ${draft.name}-${record.partition}`);
    invariant(
      record.leader !== undefined || record.isr !== undefined || record.replicas !== undefined,
      () => `PartitionChange for ${draft.name}-${record.partition} changes nothing`,
    );
    const next: PartitionState = {
      ...current,
      replicas: record.replicas ? [...record.replicas] : current.replicas,
      isr: record.isr ? [...record.isr] : current.isr,
      leader: record.leader ?? current.leader,
      leaderEpoch: record.leader !== undefined ? current.leaderEpoch + 1 : current.leaderEpoch,
      partitionEpoch: current.partitionEpoch + 1,
    };
    assertPartitionShape(next, draft.name);
    draft.partitions[record.partition] = next;
  }

  private replayConfig(record: ConfigRecord): void {
    if (record.resourceType === "topic") {
      invariant(this.topicIdsView().has(record.resourceName), () => `Config record for unknown topic ${record.resourceName}`);
    }
    const map = this.writableConfigs(record.resourceType);
    const next: Record<string, string> = { ...map.get(record.resourceName) };
    if (record.value === null) delete next[record.name];
    else next[record.name] = record.value;
    if (Object.keys(next).length === 0) map.delete(record.resourceName);
    else map.set(record.resourceName, next);
  }

  private expectBroker(brokerId: number, brokerEpoch: number, what: string): BrokerRegistration {
    const broker = this.brokersView().get(brokerId);
    invariant(broker, () => `${what} record for unregistered broker ${brokerId}`);
    invariant(
      broker.brokerEpoch === brokerEpoch,
      () => `${what} record for broker ${brokerId} epoch ${brokerEpoch}, but its epoch is ${broker.brokerEpoch}`,
    );
    return broker;
  }

  private topicExists(topicId: string): boolean {
    return this.topicDrafts.has(topicId) || (this.topicsById ?? this.base.topicsById).has(topicId);
  }

  /** The writable copy of a topic, made on first touch in this batch. */
  private draft(topicId: string, what: string): TopicDraft {
    const existing = this.topicDrafts.get(topicId);
    if (existing) return existing;
    const topic = (this.topicsById ?? this.base.topicsById).get(topicId);
    invariant(topic, () => `${what} record for unknown topic id ${topicId}`);
    const draft: TopicDraft = { name: topic.name, topicId, partitions: [...topic.partitions] };
    this.topicDrafts.set(topicId, draft);
    this.writableTopicsById();
    return draft;
  }

  private brokersView(): ReadonlyMap<number, BrokerRegistration> {
    return this.brokers ?? this.base.brokers;
  }

  private writableBrokers(): Map<number, BrokerRegistration> {
    this.brokers ??= new Map(this.base.brokers);
    return this.brokers;
  }

  private writableTopicsById(): Map<string, TopicImage> {
    this.topicsById ??= new Map(this.base.topicsById);
    return this.topicsById;
  }

  private topicIdsView(): ReadonlyMap<string, string> {
    return this.topicIdsByName ?? this.base.topicIdsByName;
  }

  private writableTopicIdsByName(): Map<string, string> {
    this.topicIdsByName ??= new Map(this.base.topicIdsByName);
    return this.topicIdsByName;
  }

  private topicConfigsView(): ReadonlyMap<string, Configs> {
    return this.topicConfigs ?? this.base.topicConfigs;
  }

  private writableConfigs(resourceType: "topic" | "broker"): Map<string, Configs> {
    if (resourceType === "topic") {
      this.topicConfigs ??= new Map(this.base.topicConfigs);
      return this.topicConfigs;
    }
    this.brokerConfigs ??= new Map(this.base.brokerConfigs);
    return this.brokerConfigs;
  }
}

/** Replicas distinct and non-empty, ISR a non-empty subset of them, leader in the ISR or none. */
function assertPartitionShape(state: PartitionState, topicName: string): void {
  const name = `${topicName}-${state.partition}`;
  invariant(state.replicas.length > 0, () => `partition ${name} has no replicas`);
  invariant(new Set(state.replicas).size === state.replicas.length, () => `partition ${name} lists a replica twice`);
  invariant(state.isr.length > 0, () => `partition ${name} has an empty ISR`);
  invariant(new Set(state.isr).size === state.isr.length, () => `partition ${name} lists an ISR member twice`);
  invariant(
    state.isr.every((id) => state.replicas.includes(id)),
    () => `partition ${name} has ISR ${state.isr.join(",")} outside replicas ${state.replicas.join(",")}`,
  );
  invariant(
    state.leader === NO_LEADER || state.isr.includes(state.leader),
    () => `partition ${name} leader ${state.leader} is not in ISR ${state.isr.join(",")}`,
  );
}

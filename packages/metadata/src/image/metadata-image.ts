// The cluster as of one point in the metadata log: brokers, topics with their partitions,
// configs and producer-id state, plus the offset (Raft index) of the last batch applied.
// Immutable: apply() returns a new image and leaves this one untouched, so a reader holding
// an image (a metadata request in flight) sees one consistent state. Replay is deterministic:
// the same batches at the same offsets give equal images and equal snapshot bytes.
//
// Building: MetadataImage.empty().apply(batch, offset) for each committed Raft entry, or
// MetadataImage.fromSnapshot(bytes) to start from a snapshot instead of replaying history.

import { invariant } from "@castle/common";
import type { ConfigResourceType, MetadataRecord } from "../records/metadata-record.js";
import { decodeImageSnapshot, encodeImageSnapshot } from "./image-snapshot.js";
import { MetadataDelta } from "./metadata-delta.js";

export interface BrokerRegistration {
  readonly brokerId: number;
  readonly incarnationId: string;
  readonly brokerEpoch: number;
  readonly endpoints: readonly { readonly name: string; readonly host: string; readonly port: number }[];
  readonly rack: string | null;
  readonly fenced: boolean;
}

export interface PartitionState {
  readonly topicId: string;
  readonly partition: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
  readonly leader: number;
  readonly leaderEpoch: number;
  readonly partitionEpoch: number;
}

export interface TopicImage {
  readonly name: string;
  readonly topicId: string;
  /** Index = partition id. */
  readonly partitions: readonly PartitionState[];
}

/** The last producer-id block handed out (KIP-730); the next block starts at nextProducerId. */
export interface ProducerIdsState {
  readonly nextProducerId: number;
  /** The broker that got the last block, or -1 before any. */
  readonly brokerId: number;
  readonly brokerEpoch: number;
}

export type Configs = Readonly<Record<string, string>>;

/** What an image holds; MetadataDelta builds new ones. Treat as frozen. */
export interface ImageState {
  /** Raft index of the last applied batch; -1 for the empty image. */
  readonly offset: number;
  /** The highest broker epoch ever assigned; the next registration gets a higher one. */
  readonly brokerEpochLast: number;
  readonly brokers: ReadonlyMap<number, BrokerRegistration>;
  readonly topicsById: ReadonlyMap<string, TopicImage>;
  readonly topicIdsByName: ReadonlyMap<string, string>;
  readonly topicConfigs: ReadonlyMap<string, Configs>;
  readonly brokerConfigs: ReadonlyMap<string, Configs>;
  readonly producerIds: ProducerIdsState;
}

const NO_CONFIGS: Configs = Object.freeze({});

export class MetadataImage {
  /** Use empty(), apply() or fromSnapshot(); the state is owned by the image from here on. */
  constructor(readonly state: ImageState) {}

  static empty(): MetadataImage {
    return new MetadataImage({
      offset: -1,
      brokerEpochLast: 0,
      brokers: new Map(),
      topicsById: new Map(),
      topicIdsByName: new Map(),
      topicConfigs: new Map(),
      brokerConfigs: new Map(),
      producerIds: { nextProducerId: 0, brokerId: -1, brokerEpoch: -1 },
    });
  }

  /**
   * The image after one committed batch (one Raft entry) at `offset`, which must be above this
   * image's. Throws InvariantError if a record does not fit: the controller validates before
   * writing, so that is a bug, and the node must stop rather than serve a wrong image.
   */
  apply(batch: readonly MetadataRecord[], offset: number): MetadataImage {
    const delta = new MetadataDelta(this);
    for (const record of batch) delta.replay(record);
    return delta.build(offset);
  }

  /** Bytes that fromSnapshot() turns back into an equal image (see image-snapshot.ts). */
  toSnapshot(): Uint8Array {
    return encodeImageSnapshot(this);
  }

  static fromSnapshot(bytes: Uint8Array): MetadataImage {
    return decodeImageSnapshot(bytes);
  }

  get offset(): number {
    return this.state.offset;
  }

  get brokerEpochLast(): number {
    return this.state.brokerEpochLast;
  }

  get producerIds(): ProducerIdsState {
    return this.state.producerIds;
  }

  broker(brokerId: number): BrokerRegistration | undefined {
    return this.state.brokers.get(brokerId);
  }

  /** Every registered broker, by id. */
  brokers(): BrokerRegistration[] {
    return [...this.state.brokers.values()].sort((a, b) => a.brokerId - b.brokerId);
  }

  /** Registered, unfenced brokers by id: the ones that may lead and host new replicas. */
  unfencedBrokers(): BrokerRegistration[] {
    return this.brokers().filter((b) => !b.fenced);
  }

  isUnfenced(brokerId: number): boolean {
    const broker = this.state.brokers.get(brokerId);
    return broker !== undefined && !broker.fenced;
  }

  topic(name: string): TopicImage | undefined {
    const topicId = this.state.topicIdsByName.get(name);
    return topicId === undefined ? undefined : this.state.topicsById.get(topicId);
  }

  topicById(topicId: string): TopicImage | undefined {
    return this.state.topicsById.get(topicId);
  }

  /** Every topic, by name. */
  topics(): TopicImage[] {
    return [...this.state.topicsById.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  get topicCount(): number {
    return this.state.topicsById.size;
  }

  partition(topicId: string, partition: number): PartitionState | undefined {
    return this.state.topicsById.get(topicId)?.partitions[partition];
  }

  configs(resourceType: ConfigResourceType, resourceName: string): Configs {
    const map = resourceType === "topic" ? this.state.topicConfigs : this.state.brokerConfigs;
    return map.get(resourceName) ?? NO_CONFIGS;
  }

  topicConfigs(topicName: string): Configs {
    return this.configs("topic", topicName);
  }

  /** Names of resources of `resourceType` that have at least one config set, sorted. */
  configResources(resourceType: ConfigResourceType): string[] {
    const map = resourceType === "topic" ? this.state.topicConfigs : this.state.brokerConfigs;
    return [...map.keys()].sort();
  }

  /** A summary for logs and `describe`: counts, not contents. */
  summary(): { offset: number; brokers: number; fencedBrokers: number; topics: number; partitions: number } {
    let partitions = 0;
    for (const topic of this.state.topicsById.values()) partitions += topic.partitions.length;
    const brokers = this.brokers();
    return {
      offset: this.offset,
      brokers: brokers.length,
      fencedBrokers: brokers.filter((b) => b.fenced).length,
      topics: this.topicCount,
      partitions,
    };
  }
}

/** Invariant helper shared by the delta and the snapshot loader. */
export function assertImageOffset(previous: number, next: number): void {
  invariant(Number.isSafeInteger(next) && next > previous, () => `metadata offset ${next} does not follow ${previous}`);
}

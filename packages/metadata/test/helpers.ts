// Test helpers: a controller over an in-memory "log" that commits every decision at once (the
// driver's job in production), and a cluster of registered, unfenced brokers.

import { SeededRandom } from "@castle/common";
import {
  type ControllerOptions,
  type ControllerResult,
  MetadataImage as Image,
  type MetadataImage,
  type MetadataRecord,
  QuorumController,
} from "@castle/metadata";

export const CLUSTER_ID = "test-cluster";

export class TestCluster {
  readonly controller: QuorumController;
  /** Every committed batch, in order, with its offset. */
  readonly log: Array<{ offset: number; records: readonly MetadataRecord[] }> = [];
  nowMs = 0;
  readonly epochs = new Map<number, number>();

  constructor(options: Partial<ControllerOptions> = {}, seed = 1, image: MetadataImage = Image.empty()) {
    this.controller = new QuorumController({ clusterId: CLUSTER_ID, ...options }, { image, random: new SeededRandom(seed) });
  }

  get image(): MetadataImage {
    return this.controller.image;
  }

  /** Commits a decision's records as one batch, like the Raft driver, and returns its result. */
  commit<T>(decision: ControllerResult<T>): T {
    if (decision.records.length > 0) this.inject(decision.records);
    return decision.result;
  }

  /** Commits records the controller did not decide (a test's shortcut to a state), at the next offset. */
  inject(records: readonly MetadataRecord[]): void {
    const offset = Math.max(this.image.offset, 0) + 1;
    this.log.push({ offset, records });
    this.controller.replay(records, offset);
  }

  register(brokerId: number, rack: string | null = null, incarnationId = `inc-${brokerId}-${this.nowMs}`): number {
    const { brokerEpoch } = this.commit(
      this.controller.registerBroker(
        { brokerId, clusterId: CLUSTER_ID, incarnationId, endpoints: [{ name: "CLIENT", host: `b${brokerId}`, port: 9092 }], rack },
        this.nowMs,
      ),
    );
    this.epochs.set(brokerId, brokerEpoch);
    return brokerEpoch;
  }

  heartbeat(brokerId: number, wantShutdown = false): ReturnType<QuorumController["brokerHeartbeat"]> {
    const decision = this.controller.brokerHeartbeat(
      { brokerId, brokerEpoch: this.epochs.get(brokerId) ?? -1, metadataOffset: this.image.offset, wantShutdown },
      this.nowMs,
    );
    this.commit(decision);
    return decision;
  }

  /** Registers and unfences brokers (ids, or [id, rack] pairs). */
  addBrokers(brokers: ReadonlyArray<number | readonly [number, string]>): this {
    for (const b of brokers) {
      const [id, rack] = typeof b === "number" ? [b, null] : b;
      this.register(id, rack);
      this.heartbeat(id);
    }
    return this;
  }

  createTopic(name: string, numPartitions: number, replicationFactor: number, configs: Record<string, string> = {}): string {
    const [result] = this.commit(this.controller.createTopics([{ name, numPartitions, replicationFactor, configs }], false));
    if (!result || result.error) throw result?.error ?? new Error("no result");
    return result.topicId as string;
  }
}

export function leadersPerBroker(image: MetadataImage): Map<number, number> {
  const counts = new Map<number, number>();
  for (const topic of image.topics()) for (const p of topic.partitions) counts.set(p.leader, (counts.get(p.leader) ?? 0) + 1);
  return counts;
}

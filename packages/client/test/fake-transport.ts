// A scripted stand-in for the cluster: fixed metadata, produce requests recorded and answered
// by a handler the test controls (default: success with increasing offsets per partition).

import { decodeRecordBatches, type ProduceRequestInput, type ProduceResponse, validateBatches } from "@castle/protocol";
import { MetadataCache } from "../src/connection/metadata-cache.js";
import type { ProducerTransport } from "../src/producer/producer.js";

export interface SentPartition {
  topic: string;
  partition: number;
  records: ReturnType<typeof decodeRecordBatches>;
  /** Size of each RecordBatch in the partition's data. */
  batchSizes: number[];
}

export type ProduceHandler = (request: ProduceRequestInput, sent: SentPartition[]) => Promise<ProduceResponse> | ProduceResponse;

export class FakeTransport implements ProducerTransport {
  readonly metadata = new MetadataCache();
  readonly requests: SentPartition[][] = [];
  private readonly nextOffset = new Map<string, number>();
  handler: ProduceHandler = (_request, sent) => this.succeed(sent);
  closed = false;

  constructor(topics: Record<string, number>) {
    this.metadata.update({
      clusterId: "test",
      controllerId: 1,
      brokers: [{ nodeId: 1, host: "127.0.0.1", port: 1, rack: "" }],
      topics: Object.entries(topics).map(([name, count]) => ({
        errorCode: 0,
        errorMessage: "",
        name,
        topicId: name,
        isInternal: false,
        partitions: Array.from({ length: count }, (_, partition) => ({
          errorCode: 0,
          partition,
          leaderId: 1,
          leaderEpoch: 0,
          replicaNodes: [1],
          isrNodes: [1],
          offlineReplicas: [],
        })),
      })),
    });
  }

  async refreshMetadata(): Promise<void> {}

  succeed(sent: SentPartition[]): ProduceResponse {
    const byTopic = new Map<string, ProduceResponse["topics"][number]>();
    for (const s of sent) {
      const key = `${s.topic}-${s.partition}`;
      const base = this.nextOffset.get(key) ?? 0;
      this.nextOffset.set(key, base + s.records.length);
      const topic = byTopic.get(s.topic) ?? { name: s.topic, partitions: [] };
      topic.partitions.push({
        partition: s.partition,
        errorCode: 0,
        errorMessage: "",
        baseOffset: base,
        logAppendTimeMs: -1,
        logStartOffset: 0,
      });
      byTopic.set(s.topic, topic);
    }
    return { topics: [...byTopic.values()] };
  }

  async produce(_nodeId: number, request: ProduceRequestInput): Promise<ProduceResponse> {
    const sent: SentPartition[] = [];
    for (const topic of request.topics ?? []) {
      for (const p of topic.partitions ?? []) {
        const bytes = p.recordBatches as Buffer;
        sent.push({
          topic: topic.name ?? "",
          partition: p.partition ?? 0,
          records: decodeRecordBatches(bytes),
          batchSizes: validateBatches(bytes, { batchBytesMax: 1 << 30 }).map((span) => span.sizeBytes),
        });
      }
    }
    this.requests.push(sent);
    return this.handler(request, sent);
  }

  close(): void {
    this.closed = true;
  }
}

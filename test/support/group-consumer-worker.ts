// One consumer-group member in its own process, forked by test/consumer-groups.test.ts (with
// --import tsx) so the test can kill -9 it. It subscribes one Consumer to one topic and
// processes commit-after-processing: every record a poll returns is reported to the parent over
// IPC, and only once the report is written to the channel does it call commitSync(), so every
// committed offset covers records the parent has heard of (at-least-once, as seen from the test).
// Rebalance callbacks, commit outcomes and poll errors are reported too, each with the time it
// happened. The parent's "stop" message closes the consumer (leaving the group) and exits; a
// lost parent (IPC disconnect) exits at once.
//
// Parent -> worker: the WorkerConfig as JSON in argv[2]; then { type: "stop" }.
// Worker -> parent: WorkerEvent, in the order things happened.

import { Consumer, type TopicPartition } from "@castle/client";

export interface WorkerConfig {
  bootstrap: string;
  groupId: string;
  clientId: string;
  topic: string;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  partitionAssignmentStrategy: string[];
  /** One poll() waits at most this long for records. */
  pollTimeoutMs: number;
  /** Records one poll() returns at most, so a batch (and its uncommitted tail) stays small. */
  maxPollRecords: number;
  /** onPartitionsAssigned takes this long (an application loading state for its new partitions); 0 for none. */
  onAssignedMs: number;
}

/** A record as processed: enough to name it and to place it in time. */
export interface ProcessedRecord {
  partition: number;
  offset: number;
  value: string;
  /** The record's timestamp (the producer's create time). */
  timestampMs: number;
}

/** A rebalance callback: the partitions it was called with. */
type RebalanceEvent<T extends string> = { type: T; partitions: number[]; atMs: number };

export type WorkerEvent =
  | { type: "subscribed"; atMs: number }
  | RebalanceEvent<"assigned">
  | RebalanceEvent<"revoked">
  | RebalanceEvent<"lost">
  | { type: "records"; records: ProcessedRecord[]; atMs: number }
  /** A commit succeeded; `offsets` are the next offsets of the batch's partitions (by partition) that it covered. */
  | { type: "committed"; offsets: Record<number, number>; atMs: number }
  | { type: "commit-failed"; error: string; atMs: number }
  | { type: "poll-failed"; error: string; atMs: number }
  | { type: "closed"; atMs: number };

/** After a failed poll, this long before the next one. */
const POLL_RETRY_BACKOFF_MS = 100;
/** close() may take this long to revoke and leave (auto-commit is off, so it commits nothing). */
const CLOSE_TIMEOUT_MS = 5_000;

/** Sends one event and resolves once it is written to the IPC channel (or the channel is gone). */
function report(event: WorkerEvent): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined || !process.connected) {
      resolve();
      return;
    }
    process.send(event, undefined, {}, () => resolve());
  });
}

const partitionsOf = (tps: readonly TopicPartition[]): number[] => tps.map((tp) => tp.partition).sort((a, b) => a - b);

async function main(): Promise<void> {
  const raw = process.argv[2];
  if (raw === undefined || process.send === undefined)
    throw new Error("group-consumer-worker: fork me with a JSON config and an IPC channel");
  const config = JSON.parse(raw) as WorkerConfig;
  let stopping = false;
  process.on("message", (message: { type?: string }) => {
    if (message?.type === "stop") stopping = true;
  });
  process.on("disconnect", () => process.exit(1));

  const consumer = new Consumer({
    bootstrap: config.bootstrap,
    clientId: config.clientId,
    groupId: config.groupId,
    sessionTimeoutMs: config.sessionTimeoutMs,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    partitionAssignmentStrategy: config.partitionAssignmentStrategy,
    enableAutoCommit: false,
    autoOffsetReset: "earliest",
    fetchMaxWaitMs: config.pollTimeoutMs,
    maxPollRecords: config.maxPollRecords,
    requestTimeoutMs: 5_000,
  });
  consumer.subscribe([config.topic], {
    onPartitionsAssigned: async (tps) => {
      await report({ type: "assigned", partitions: partitionsOf(tps), atMs: Date.now() });
      if (config.onAssignedMs > 0) await new Promise((resolve) => setTimeout(resolve, config.onAssignedMs));
    },
    onPartitionsRevoked: (tps) => report({ type: "revoked", partitions: partitionsOf(tps), atMs: Date.now() }),
    onPartitionsLost: (tps) => report({ type: "lost", partitions: partitionsOf(tps), atMs: Date.now() }),
  });
  await report({ type: "subscribed", atMs: Date.now() });

  while (!stopping) {
    let batch: Awaited<ReturnType<Consumer["poll"]>>;
    try {
      batch = await consumer.poll(config.pollTimeoutMs);
    } catch (error) {
      await report({ type: "poll-failed", error: (error as Error).message, atMs: Date.now() });
      await new Promise((resolve) => setTimeout(resolve, POLL_RETRY_BACKOFF_MS));
      continue;
    }
    if (batch.length === 0) continue;
    const records = batch.map((r) => ({
      partition: r.partition,
      offset: r.offset,
      value: r.value?.toString("utf8") ?? "",
      timestampMs: r.timestampMs,
    }));
    await report({ type: "records", records, atMs: Date.now() });
    const offsets: Record<number, number> = {};
    for (const r of records) offsets[r.partition] = r.offset + 1;
    try {
      // Every owned partition's position: the offset after the last record returned, all of them reported.
      await consumer.commitSync();
      await report({ type: "committed", offsets, atMs: Date.now() });
    } catch (error) {
      await report({ type: "commit-failed", error: (error as Error).message, atMs: Date.now() });
    }
  }
  await consumer.close({ timeoutMs: CLOSE_TIMEOUT_MS });
  await report({ type: "closed", atMs: Date.now() });
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stderr.write(`group-consumer-worker failed: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(2);
});

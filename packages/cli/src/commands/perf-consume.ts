// castle perf consume: kafka-consumer-perf-test. Reads --messages records from the start of
// every partition of a topic, with progress on stderr, then reports throughput and the
// end-to-end latency (receive time minus record timestamp).

import { Consumer } from "@castle/client";
import type { Command } from "commander";
import { globalOptions } from "../support/global-options.js";
import { LatencyStats, ProgressLine } from "../support/latency-stats.js";
import { printJson, printTable } from "../support/output.js";
import { positiveInt } from "../support/parse-options.js";
import { requireTopic } from "../support/require-topic.js";

interface Options {
  topic: string;
  messages: number;
  timeoutMs: number;
  fromLatest?: boolean;
}

export function registerPerfConsume(perf: Command): void {
  perf
    .command("consume")
    .description("measure consumer throughput")
    .requiredOption("--topic <topic>", "topic to read")
    .requiredOption("--messages <n>", "records to read", positiveInt)
    .option("--timeout-ms <ms>", "give up when no record arrives for this long", positiveInt, 10_000)
    .option("--from-latest", "start at the end instead of the beginning")
    .action(async (options: Options, command: Command) => {
      const globals = globalOptions(command);
      const description = await requireTopic(globals.bootstrap, options.topic);
      const consumer = new Consumer({ bootstrap: globals.bootstrap, autoOffsetReset: options.fromLatest ? "latest" : "earliest" });
      consumer.assign(description.partitions.map((p) => ({ topic: options.topic, partition: p.partition })));
      const stats = new LatencyStats();
      const progress = new ProgressLine();
      let records = 0;
      let bytes = 0;
      const started = performance.now();
      let lastProgress = started;
      let lastRecordAt = started;
      try {
        while (records < options.messages && performance.now() - lastRecordAt < options.timeoutMs) {
          const batch = await consumer.poll(500);
          const nowWall = Date.now();
          for (const record of batch) {
            records++;
            bytes += (record.value?.length ?? 0) + (record.key?.length ?? 0);
            stats.recordMs(Math.max(0, nowWall - record.timestampMs));
          }
          const now = performance.now();
          if (batch.length > 0) lastRecordAt = now;
          if (now - lastProgress >= progress.intervalMs) {
            const seconds = (now - started) / 1000;
            progress.update(
              `${records} records read, ${(records / seconds).toFixed(1)} records/sec (${(bytes / 1048576 / seconds).toFixed(2)} MB/sec)`,
            );
            lastProgress = now;
          }
        }
      } finally {
        progress.done();
        consumer.close();
      }
      const seconds = (performance.now() - started) / 1000;
      const latency = stats.summary();
      const result = {
        records,
        megabytes: Number((bytes / 1048576).toFixed(3)),
        seconds: Number(seconds.toFixed(3)),
        recordsPerSec: Number((records / seconds).toFixed(1)),
        mbPerSec: Number((bytes / 1048576 / seconds).toFixed(2)),
        endToEndLatencyMs: latency,
        complete: records >= options.messages,
      };
      if (globals.json) printJson(result);
      else
        printTable(
          ["records", "MB", "records/s", "MB/s", "avg e2e ms", "p50 ms", "p95 ms", "p99 ms", "max ms"],
          [
            [
              records,
              result.megabytes,
              result.recordsPerSec,
              result.mbPerSec,
              latency.avgMs,
              latency.p50Ms,
              latency.p95Ms,
              latency.p99Ms,
              latency.maxMs,
            ],
          ],
        );
      if (!result.complete)
        process.stderr.write(`warning: read ${records} of ${options.messages} records before --timeout-ms passed without new records\n`);
    });
}

// castle perf produce: kafka-producer-perf-test. Sends --num-records records of --record-size
// bytes as fast as allowed (or at --throughput records/s), shows progress on stderr, and
// reports throughput and send-to-acknowledgement latency percentiles.

import { randomBytes } from "node:crypto";
import { Producer } from "@castle/client";
import { sleep } from "@castle/common";
import type { Command } from "commander";
import { globalOptions } from "../support/global-options.js";
import { LatencyStats, ProgressLine } from "../support/latency-stats.js";
import { printJson, printTable } from "../support/output.js";
import { acksArg, nonNegativeInt, positiveInt, throughputArg } from "../support/parse-options.js";
import { requireTopic } from "../support/require-topic.js";

interface Options {
  topic: string;
  numRecords: number;
  recordSize: number;
  throughput: number;
  acks: 0 | 1 | -1;
  batchSize?: number;
  lingerMs?: number;
  compression: "none" | "gzip";
}

export function registerPerfProduce(perf: Command): void {
  perf
    .command("produce")
    .description("measure producer throughput and latency")
    .requiredOption("--topic <topic>", "topic to write to")
    .requiredOption("--num-records <n>", "records to send", positiveInt)
    .requiredOption("--record-size <bytes>", "value size of each record", positiveInt)
    .option("--throughput <n>", "records/s cap, -1 for none", throughputArg, -1)
    .option("--acks <acks>", "0, 1 or all", acksArg, -1 as const)
    .option("--batch-size <bytes>", "producer batchSize", positiveInt)
    .option("--linger-ms <ms>", "producer lingerMs", nonNegativeInt)
    .option("--compression <type>", "none or gzip", "none")
    .action(async (options: Options, command: Command) => {
      const globals = globalOptions(command);
      await requireTopic(globals.bootstrap, options.topic);
      const producer = new Producer({
        bootstrap: globals.bootstrap,
        acks: options.acks,
        batchSize: options.batchSize,
        lingerMs: options.lingerMs,
        compression: options.compression,
      });
      const value = randomBytes(options.recordSize);
      const stats = new LatencyStats();
      const progress = new ProgressLine();
      let acked = 0;
      let failed = 0;
      let firstError: Error | undefined;
      let windowAcked = 0;
      let windowStart = performance.now();
      const started = performance.now();
      const ticker = setInterval(() => {
        const now = performance.now();
        const rate = (windowAcked * 1000) / Math.max(1, now - windowStart);
        progress.update(
          `${acked} records sent, ${rate.toFixed(1)} records/sec (${((rate * options.recordSize) / 1048576).toFixed(2)} MB/sec), ${stats.takeWindowAvgMs().toFixed(1)} ms avg latency`,
        );
        windowAcked = 0;
        windowStart = now;
      }, progress.intervalMs);
      try {
        for (let i = 0; i < options.numRecords; i++) {
          if (firstError !== undefined) break;
          if (options.throughput > 0) {
            const aheadMs = (i * 1000) / options.throughput - (performance.now() - started);
            if (aheadMs > 2) await sleep(aheadMs);
          }
          const sentAt = performance.now();
          const accepted = producer.sendWithCallback({ topic: options.topic, value }, (error) => {
            if (error === null) {
              acked++;
              windowAcked++;
              stats.recordMs(performance.now() - sentAt);
            } else {
              failed++;
              firstError ??= error;
            }
          });
          if (accepted !== undefined) await accepted;
        }
        await producer.flush();
      } finally {
        clearInterval(ticker);
        progress.done();
        await producer.close();
      }
      if (firstError !== undefined && acked === 0) throw firstError;
      const seconds = (performance.now() - started) / 1000;
      const latency = stats.summary();
      const result = {
        records: acked,
        failed,
        seconds: Number(seconds.toFixed(3)),
        recordsPerSec: Number((acked / seconds).toFixed(1)),
        mbPerSec: Number(((acked * options.recordSize) / 1048576 / seconds).toFixed(2)),
        latencyMs: latency,
      };
      if (globals.json) printJson(result);
      else
        printTable(
          ["records", "records/s", "MB/s", "avg ms", "p50 ms", "p95 ms", "p99 ms", "p99.9 ms", "max ms"],
          [
            [
              result.records,
              result.recordsPerSec,
              result.mbPerSec,
              latency.avgMs,
              latency.p50Ms,
              latency.p95Ms,
              latency.p99Ms,
              latency.p999Ms,
              latency.maxMs,
            ],
          ],
        );
      if (firstError !== undefined) process.stderr.write(`warning: ${failed} record(s) failed; first error: ${firstError.message}\n`);
    });
}

// castle consume --topic T: prints record values (kafka-console-consumer), exits after
// --max-messages or after --timeout-ms without a new record, and reports the total on stderr.
// With --group G it joins the consumer group (subscribe), reads the partitions the group gives
// it from the group's committed offsets (--from-beginning = auto.offset.reset=earliest where
// none is committed, as Kafka's console consumer), auto-commits, and commits what it printed
// when it stops (--max-messages, --timeout-ms, SIGINT or SIGTERM) before leaving the group.

import { Consumer, type ConsumerRecord, type TopicPartition } from "@castle/client";
import type { Command } from "commander";
import { CliError } from "../support/cli-error.js";
import { globalOptions } from "../support/global-options.js";
import { printInfo } from "../support/output.js";
import { nonNegativeInt, offsetArg, positiveInt } from "../support/parse-options.js";
import { requirePartition, requireTopic } from "../support/require-topic.js";

interface Options {
  topic: string;
  group?: string;
  fromBeginning?: boolean;
  partition?: number;
  offset?: number | "earliest" | "latest";
  maxMessages?: number;
  timeoutMs?: number;
  printKey?: boolean;
  keySeparator: string;
}

function text(buffer: Buffer | null): string {
  return buffer === null ? "null" : buffer.toString("utf8");
}

/** Bound on the commit made when a group consumer stops. */
const FINAL_COMMIT_TIMEOUT_MS = 10_000;

/** Option combinations that cannot work, refused before connecting. */
export function checkConsumeOptions(options: Pick<Options, "group" | "partition" | "offset">): void {
  if (options.group !== undefined) {
    if (options.group.trim().length === 0) throw new CliError("--group needs a group id", "e.g. --group my-app");
    const given = [options.partition !== undefined ? "--partition" : "", options.offset !== undefined ? "--offset" : ""].filter(Boolean);
    if (given.length > 0) {
      throw new CliError(
        `${given.join(" and ")} cannot be used with --group`,
        "the group assigns the partitions and starts from its committed offsets; drop --group to read a partition from an offset, or move the group with `castle group reset-offsets`",
      );
    }
  }
  if (options.offset !== undefined && options.partition === undefined) {
    throw new CliError("--offset needs --partition", "name the partition to start at that offset, e.g. --partition 0");
  }
}

/** The first offset of each partition among `records` (what was fetched but not printed). */
export function firstOffsets(records: readonly ConsumerRecord[]): { tp: TopicPartition; offset: number }[] {
  const first = new Map<string, { tp: TopicPartition; offset: number }>();
  for (const r of records) {
    const k = `${r.topic}\u0000${r.partition}`;
    if (!first.has(k)) first.set(k, { tp: { topic: r.topic, partition: r.partition }, offset: r.offset });
  }
  return [...first.values()];
}

export function registerConsume(program: Command): void {
  program
    .command("consume")
    .description("print records of a topic")
    .requiredOption("--topic <topic>", "topic to read")
    .option("--group <group>", "join this consumer group: read its share of the partitions and commit offsets")
    .option("--from-beginning", "start at the earliest offset instead of the end (with --group: where the group has no committed offset)")
    .option("--partition <n>", "read only this partition", nonNegativeInt)
    .option("--offset <offset>", "start offset: a number, earliest or latest (needs --partition)", offsetArg)
    .option("--max-messages <n>", "exit after this many records", positiveInt)
    .option("--timeout-ms <ms>", "exit when no record arrives for this long", positiveInt)
    .option("--print-key", "print key<sep>value")
    .option("--key-separator <sep>", "separator for --print-key", "\t")
    .action(async (options: Options, command: Command) => {
      const globals = globalOptions(command);
      checkConsumeOptions(options);
      const description = await requireTopic(globals.bootstrap, options.topic);
      const autoOffsetReset = options.fromBeginning ? "earliest" : "latest";
      const groupId = options.group;
      let consumer: Consumer;
      if (groupId !== undefined) {
        consumer = new Consumer({
          bootstrap: globals.bootstrap,
          clientId: "castle-consume",
          groupId,
          enableAutoCommit: true,
          autoOffsetReset,
        });
        consumer.subscribe([options.topic]);
      } else {
        if (options.partition !== undefined) requirePartition(description, options.partition);
        const partitions = options.partition !== undefined ? [options.partition] : description.partitions.map((p) => p.partition);
        consumer = new Consumer({ bootstrap: globals.bootstrap, autoOffsetReset });
        const tps = partitions.map((partition) => ({ topic: options.topic, partition }));
        consumer.assign(tps);
        if (typeof options.offset === "number") consumer.seek(tps[0] as (typeof tps)[0], options.offset);
        else if (options.offset === "earliest") consumer.seekToBeginning(tps);
        else if (options.offset === "latest") consumer.seekToEnd(tps);
      }

      let total = 0;
      let stopped = false;
      const stop = () => {
        stopped = true;
      };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      const print = (record: ConsumerRecord) => {
        if (globals.json) {
          process.stdout.write(
            `${JSON.stringify({
              topic: record.topic,
              partition: record.partition,
              offset: record.offset,
              timestampMs: record.timestampMs,
              key: record.key === null ? null : record.key.toString("utf8"),
              value: record.value === null ? null : record.value.toString("utf8"),
              headers: record.headers.map((h) => ({ key: h.key, value: h.value === null ? null : h.value.toString("utf8") })),
            })}\n`,
          );
        } else if (options.printKey) {
          process.stdout.write(`${text(record.key)}${options.keySeparator}${text(record.value)}\n`);
        } else {
          process.stdout.write(`${text(record.value)}\n`);
        }
      };
      try {
        let lastRecordAt = Date.now();
        while (!stopped) {
          const waitMs = options.timeoutMs === undefined ? 500 : Math.max(0, Math.min(500, lastRecordAt + options.timeoutMs - Date.now()));
          const records = await consumer.poll(waitMs);
          for (const [i, record] of records.entries()) {
            print(record);
            total++;
            if (options.maxMessages !== undefined && total >= options.maxMessages) {
              // Records fetched but not printed are not consumed: the final commit must not pass them.
              for (const { tp, offset } of firstOffsets(records.slice(i + 1))) consumer.seek(tp, offset);
              break;
            }
          }
          if (records.length > 0) lastRecordAt = Date.now();
          if (options.maxMessages !== undefined && total >= options.maxMessages) break;
          if (options.timeoutMs !== undefined && Date.now() - lastRecordAt >= options.timeoutMs) break;
        }
      } finally {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        if (groupId !== undefined) {
          try {
            await consumer.commitSync(undefined, { timeoutMs: FINAL_COMMIT_TIMEOUT_MS });
          } catch (error) {
            printInfo(`warning: the final offset commit for group '${groupId}' failed: ${(error as Error).message}`);
          }
        }
        await consumer.close();
        printInfo(`Processed a total of ${total} messages`);
      }
    });
}

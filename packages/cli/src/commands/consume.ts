// castle consume --topic T: prints record values (kafka-console-consumer), exits after
// --max-messages or after --timeout-ms without a new record, and reports the total on stderr.

import { Consumer, type ConsumerRecord } from "@castle/client";
import type { Command } from "commander";
import { CliError } from "../support/cli-error.js";
import { globalOptions } from "../support/global-options.js";
import { printInfo } from "../support/output.js";
import { nonNegativeInt, offsetArg, positiveInt } from "../support/parse-options.js";
import { requirePartition, requireTopic } from "../support/require-topic.js";

interface Options {
  topic: string;
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

export function registerConsume(program: Command): void {
  program
    .command("consume")
    .description("print records of a topic")
    .requiredOption("--topic <topic>", "topic to read")
    .option("--from-beginning", "start at the earliest offset instead of the end")
    .option("--partition <n>", "read only this partition", nonNegativeInt)
    .option("--offset <offset>", "start offset: a number, earliest or latest (needs --partition)", offsetArg)
    .option("--max-messages <n>", "exit after this many records", positiveInt)
    .option("--timeout-ms <ms>", "exit when no record arrives for this long", positiveInt)
    .option("--print-key", "print key<sep>value")
    .option("--key-separator <sep>", "separator for --print-key", "\t")
    .action(async (options: Options, command: Command) => {
      const globals = globalOptions(command);
      if (options.offset !== undefined && options.partition === undefined) {
        throw new CliError("--offset needs --partition", "name the partition to start at that offset, e.g. --partition 0");
      }
      const description = await requireTopic(globals.bootstrap, options.topic);
      if (options.partition !== undefined) requirePartition(description, options.partition);
      const partitions = options.partition !== undefined ? [options.partition] : description.partitions.map((p) => p.partition);
      const consumer = new Consumer({ bootstrap: globals.bootstrap, autoOffsetReset: options.fromBeginning ? "earliest" : "latest" });
      const tps = partitions.map((partition) => ({ topic: options.topic, partition }));
      consumer.assign(tps);
      if (typeof options.offset === "number") consumer.seek(tps[0] as (typeof tps)[0], options.offset);
      else if (options.offset === "earliest") consumer.seekToBeginning(tps);
      else if (options.offset === "latest") consumer.seekToEnd(tps);

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
          for (const record of records) {
            print(record);
            total++;
            if (options.maxMessages !== undefined && total >= options.maxMessages) break;
          }
          if (records.length > 0) lastRecordAt = Date.now();
          if (options.maxMessages !== undefined && total >= options.maxMessages) break;
          if (options.timeoutMs !== undefined && Date.now() - lastRecordAt >= options.timeoutMs) break;
        }
      } finally {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        consumer.close();
        printInfo(`Processed a total of ${total} messages`);
      }
    });
}

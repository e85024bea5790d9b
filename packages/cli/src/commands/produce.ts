// castle produce --topic T: one record per stdin line (kafka-console-producer).

import { createInterface } from "node:readline";
import { Producer } from "@castle/client";
import type { Command } from "commander";
import { CliError } from "../support/cli-error.js";
import { globalOptions } from "../support/global-options.js";
import { printInfo, printJson } from "../support/output.js";
import { acksArg, nonNegativeInt } from "../support/parse-options.js";
import { requirePartition, requireTopic } from "../support/require-topic.js";

interface Options {
  topic: string;
  keySeparator?: string;
  acks: 0 | 1 | -1;
  partition?: number;
  lingerMs?: number;
}

export function registerProduce(program: Command): void {
  program
    .command("produce")
    .description("send stdin lines as records, one per line")
    .requiredOption("--topic <topic>", "topic to write to")
    .option("--key-separator <sep>", "split each line at the first <sep> into key and value")
    .option("--acks <acks>", "0, 1 or all", acksArg, -1 as const)
    .option("--partition <n>", "write every record to this partition", nonNegativeInt)
    .option("--linger-ms <ms>", "producer lingerMs", nonNegativeInt)
    .action(async (options: Options, command: Command) => {
      const globals = globalOptions(command);
      const description = await requireTopic(globals.bootstrap, options.topic);
      if (options.partition !== undefined) requirePartition(description, options.partition);
      if (options.keySeparator === "") throw new CliError("--key-separator is empty", "give a separator such as ':' or a tab");
      const producer = new Producer({ bootstrap: globals.bootstrap, acks: options.acks, lingerMs: options.lingerMs ?? 5 });
      let sent = 0;
      let acknowledged = 0;
      let firstError: Error | undefined;
      const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
      let lineNumber = 0;
      try {
        for await (const line of lines) {
          lineNumber++;
          if (firstError !== undefined) break;
          let key: string | null = null;
          let value = line;
          if (options.keySeparator !== undefined) {
            const at = line.indexOf(options.keySeparator);
            if (at < 0)
              throw new CliError(`line ${lineNumber} has no key separator '${options.keySeparator}'`, "write lines as key<sep>value");
            key = line.slice(0, at);
            value = line.slice(at + options.keySeparator.length);
          }
          sent++;
          const accepted = producer.sendWithCallback({ topic: options.topic, key, value, partition: options.partition }, (error) => {
            if (error === null) acknowledged++;
            else firstError ??= error;
          });
          if (accepted !== undefined) await accepted;
        }
      } finally {
        await producer.close();
      }
      if (firstError !== undefined) throw firstError;
      if (globals.json) printJson({ topic: options.topic, records: acknowledged });
      else
        printInfo(
          `Produced ${acknowledged} record(s) to ${options.topic}${sent !== acknowledged ? ` (${sent - acknowledged} failed)` : ""}.`,
        );
    });
}

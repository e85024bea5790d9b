// castle topic alter NAME [--partitions N] [--config k=v] [--delete-config k]

import { Admin } from "@castle/client";
import type { Command } from "commander";
import { CliError } from "../support/cli-error.js";
import { globalOptions } from "../support/global-options.js";
import { printJson, printLine } from "../support/output.js";
import { collect, collectConfig, positiveInt } from "../support/parse-options.js";

interface Options {
  partitions?: number;
  config?: Record<string, string>;
  deleteConfig?: string[];
}

export function registerTopicAlter(topic: Command): void {
  topic
    .command("alter")
    .description("add partitions or change configs of a topic")
    .argument("<name>", "topic name")
    .option("--partitions <n>", "the new total number of partitions (can only grow)", positiveInt)
    .option("--config <key=value>", "set a topic config; repeatable", collectConfig)
    .option("--delete-config <key>", "revert a topic config to its default; repeatable", collect)
    .action(async (name: string, options: Options, command: Command) => {
      const globals = globalOptions(command);
      const set = options.config ?? {};
      const remove = options.deleteConfig ?? [];
      if (options.partitions === undefined && Object.keys(set).length === 0 && remove.length === 0) {
        throw new CliError("nothing to alter", "give --partitions N, --config key=value or --delete-config key");
      }
      const admin = new Admin({ bootstrap: globals.bootstrap });
      try {
        if (options.partitions !== undefined) await admin.createPartitions([{ topic: name, count: options.partitions }]);
        if (Object.keys(set).length > 0 || remove.length > 0) await admin.alterConfigs([{ type: "topic", name, set, delete: remove }]);
        if (globals.json) printJson({ name, partitions: options.partitions ?? null, set, deleted: remove });
        else printLine(`Altered topic ${name}.`);
      } finally {
        admin.close();
      }
    });
}

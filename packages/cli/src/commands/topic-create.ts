// castle topic create NAME --partitions N --replication-factor N --config k=v [--if-not-exists]

import { Admin } from "@castle/client";
import { ProtocolError } from "@castle/protocol";
import type { Command } from "commander";
import { globalOptions } from "../support/global-options.js";
import { printJson, printLine } from "../support/output.js";
import { collectConfig, positiveInt } from "../support/parse-options.js";

interface Options {
  partitions?: number;
  replicationFactor?: number;
  config?: Record<string, string>;
  ifNotExists?: boolean;
  validateOnly?: boolean;
}

export function registerTopicCreate(topic: Command): void {
  topic
    .command("create")
    .description("create a topic")
    .argument("<name>", "topic name")
    .option("--partitions <n>", "number of partitions (default: the broker's num.partitions)", positiveInt)
    .option("--replication-factor <n>", "replicas per partition (default: the broker's default.replication.factor)", positiveInt)
    .option("--config <key=value>", "a topic config; repeatable", collectConfig)
    .option("--if-not-exists", "succeed if the topic already exists")
    .option("--validate-only", "check the request without creating anything")
    .action(async (name: string, options: Options, command: Command) => {
      const globals = globalOptions(command);
      const admin = new Admin({ bootstrap: globals.bootstrap });
      try {
        const [created] = await admin.createTopics(
          [{ name, numPartitions: options.partitions, replicationFactor: options.replicationFactor, configs: options.config ?? {} }],
          { validateOnly: options.validateOnly ?? false },
        );
        if (globals.json) printJson({ created: true, ...created });
        else printLine(`${options.validateOnly ? "Validated" : "Created"} topic ${name}.`);
      } catch (error) {
        if (options.ifNotExists && error instanceof ProtocolError && error.code === "TOPIC_ALREADY_EXISTS") {
          if (globals.json) printJson({ created: false, name });
          else printLine(`Topic ${name} already exists.`);
          return;
        }
        throw error;
      } finally {
        admin.close();
      }
    });
}

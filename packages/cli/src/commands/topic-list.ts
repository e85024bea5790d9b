// castle topic list [--include-internal]

import { Admin } from "@castle/client";
import type { Command } from "commander";
import { globalOptions } from "../support/global-options.js";
import { printJson, printTable } from "../support/output.js";

export function registerTopicList(topic: Command): void {
  topic
    .command("list")
    .description("list topics")
    .option("--include-internal", "also list internal topics")
    .action(async (options: { includeInternal?: boolean }, command: Command) => {
      const globals = globalOptions(command);
      const admin = new Admin({ bootstrap: globals.bootstrap });
      try {
        const topics = await admin.listTopics({ includeInternal: options.includeInternal ?? false });
        if (globals.json) printJson(topics);
        else
          printTable(
            ["Topic", "Partitions", "ReplicationFactor", "TopicId"],
            topics.map((t) => [t.name, t.numPartitions, t.replicationFactor, t.topicId]),
          );
      } finally {
        admin.close();
      }
    });
}

// castle topic describe [NAME]: the layout of kafka-topics --describe.

import { Admin } from "@castle/client";
import type { Command } from "commander";
import { globalOptions } from "../support/global-options.js";
import { printJson, printLine } from "../support/output.js";

export function registerTopicDescribe(topic: Command): void {
  topic
    .command("describe")
    .description("describe one topic, or all")
    .argument("[name]", "topic name (default: all topics)")
    .action(async (name: string | undefined, _options: unknown, command: Command) => {
      const globals = globalOptions(command);
      const admin = new Admin({ bootstrap: globals.bootstrap });
      try {
        const topics = await admin.describeTopics(name === undefined ? [] : [name]);
        if (globals.json) {
          printJson(topics);
          return;
        }
        for (const t of topics) {
          const configs = Object.entries(t.configs)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([k, v]) => `${k}=${v}`)
            .join(",");
          const replicationFactor = t.partitions[0]?.replicas.length ?? 0;
          printLine(
            `Topic: ${t.name}\tTopicId: ${t.topicId}\tPartitionCount: ${t.partitions.length}\tReplicationFactor: ${replicationFactor}\tConfigs: ${configs}`,
          );
          for (const p of t.partitions) {
            printLine(
              `\tTopic: ${t.name}\tPartition: ${p.partition}\tLeader: ${p.leader < 0 ? "none" : p.leader}\tReplicas: ${p.replicas.join(",")}\tIsr: ${p.isr.join(",")}`,
            );
          }
        }
      } finally {
        admin.close();
      }
    });
}

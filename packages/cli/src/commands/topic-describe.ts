// castle topic describe [NAME] [--under-replicated | --unavailable]: the layout of
// kafka-topics --describe. With a filter (kafka-topics' --under-replicated-partitions and
// --unavailable-partitions) only the matching partition lines are printed, without the topic
// lines, as Kafka does; --json prints the same topics with only the matching partitions (topics
// left without any are dropped). Option checks, filters and lines are pure functions.

import { Admin, type ClusterDescription, type PartitionDescription, type TopicDescription } from "@castle/client";
import type { Command } from "commander";
import { CliError } from "../support/cli-error.js";
import { globalOptions } from "../support/global-options.js";
import { printInfo, printJson, printLine } from "../support/output.js";

interface Options {
  underReplicated?: boolean;
  unavailable?: boolean;
}

export type PartitionFilter = "all" | "under-replicated" | "unavailable";

/** The one filter the options ask for; the two are exclusive (as Kafka's report options are). */
export function partitionFilter(options: Options): PartitionFilter {
  if (options.underReplicated === true && options.unavailable === true) {
    throw new CliError("--under-replicated and --unavailable cannot be combined", "give one of them, or neither for every partition");
  }
  if (options.underReplicated === true) return "under-replicated";
  if (options.unavailable === true) return "unavailable";
  return "all";
}

/** Brokers that may lead: registered and unfenced (DescribeCluster's broker list, as Metadata gives it to clients). */
export function liveBrokerIds(cluster: Pick<ClusterDescription, "brokers">): ReadonlySet<number> {
  return new Set(cluster.brokers.map((b) => b.nodeId));
}

/** Fewer in-sync replicas than replicas. */
export function isUnderReplicated(p: PartitionDescription): boolean {
  return p.isr.length < p.replicas.length;
}

/** No leader, or one that is not a live broker (fenced or gone): nobody can produce to or fetch from it. */
export function isUnavailable(p: PartitionDescription, liveBrokers: ReadonlySet<number>): boolean {
  return p.leader < 0 || !liveBrokers.has(p.leader);
}

/** The topics with only the partitions `filter` keeps; with a filter, topics left without partitions are dropped. */
export function filterTopics(
  topics: readonly TopicDescription[],
  filter: PartitionFilter,
  liveBrokers: ReadonlySet<number>,
): TopicDescription[] {
  if (filter === "all") return [...topics];
  const keep = (p: PartitionDescription): boolean => (filter === "under-replicated" ? isUnderReplicated(p) : isUnavailable(p, liveBrokers));
  return topics.map((t) => ({ ...t, partitions: t.partitions.filter(keep) })).filter((t) => t.partitions.length > 0);
}

export function topicLine(t: TopicDescription): string {
  const configs = Object.entries(t.configs)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  const replicationFactor = t.partitions[0]?.replicas.length ?? 0;
  return `Topic: ${t.name}\tTopicId: ${t.topicId}\tPartitionCount: ${t.partitions.length}\tReplicationFactor: ${replicationFactor}\tConfigs: ${configs}`;
}

/** One partition's line; the leader is "none" when there is none or (given the live brokers) it is not live, as in Kafka. */
export function partitionLine(topic: string, p: PartitionDescription, liveBrokers?: ReadonlySet<number>): string {
  const hasLeader = p.leader >= 0 && (liveBrokers === undefined || liveBrokers.has(p.leader));
  const leader = hasLeader ? String(p.leader) : "none";
  return `\tTopic: ${topic}\tPartition: ${p.partition}\tLeader: ${leader}\tReplicas: ${p.replicas.join(",")}\tIsr: ${p.isr.join(",")}`;
}

const NOTHING_FOUND: Record<Exclude<PartitionFilter, "all">, string> = {
  "under-replicated": "No under-replicated partitions: every ISR holds every replica.",
  unavailable: "No unavailable partitions: every partition has a live leader.",
};

export function registerTopicDescribe(topic: Command): void {
  topic
    .command("describe")
    .description("describe one topic, or all")
    .argument("[name]", "topic name (default: all topics)")
    .option("--under-replicated", "only partitions whose ISR is smaller than their replica set")
    .option("--unavailable", "only partitions without a live leader (none, or a fenced one)")
    .action(async (name: string | undefined, options: Options, command: Command) => {
      const globals = globalOptions(command);
      const filter = partitionFilter(options);
      const admin = new Admin({ bootstrap: globals.bootstrap });
      let described: TopicDescription[];
      let liveBrokers: ReadonlySet<number> | undefined;
      try {
        described = await admin.describeTopics(name === undefined ? [] : [name]);
        if (filter === "unavailable") liveBrokers = liveBrokerIds(await admin.describeCluster());
      } finally {
        admin.close();
      }
      const topics = filterTopics(described, filter, liveBrokers ?? new Set());
      if (globals.json) {
        printJson(topics);
        return;
      }
      if (filter !== "all" && topics.length === 0) printInfo(NOTHING_FOUND[filter]);
      for (const t of topics) {
        if (filter === "all") printLine(topicLine(t));
        for (const p of t.partitions) printLine(partitionLine(t.name, p, liveBrokers));
      }
    });
}

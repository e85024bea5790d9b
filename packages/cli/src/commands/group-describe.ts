// castle group describe G [--members | --state]: one consumer group in the layouts of
// kafka-consumer-groups --describe. The default view lists every partition the group has a
// committed offset for or a member is assigned, with the lag against the high watermark
// (ListOffsets latest); --members lists the members and their assignments; --state the group's
// coordinator, assignor, state and size. A group the coordinator does not know ("Dead") is an
// error, as in Kafka. Option checks, rows and lines are pure functions.

import { Admin, type GroupDescription, type GroupMemberDescription, type GroupOffset, type TopicPartitionRef } from "@castle/client";
import { ProtocolError } from "@castle/protocol";
import type { Command } from "commander";
import { CliError } from "../support/cli-error.js";
import { globalOptions } from "../support/global-options.js";
import { printInfo, printJson, printLine, printTable } from "../support/output.js";

interface Options {
  members?: boolean;
  state?: boolean;
}

export type GroupDescribeView = "offsets" | "members" | "state";

/** The one view the options ask for; --members and --state are exclusive (as in Kafka). */
export function groupDescribeView(options: Options): GroupDescribeView {
  if (options.members === true && options.state === true) {
    throw new CliError("--members and --state cannot be combined", "give one of them, or neither for the partitions and their lag");
  }
  if (options.members === true) return "members";
  if (options.state === true) return "state";
  return "offsets";
}

/** A group that exists: the coordinator reports an unknown group as Dead. */
export function requireExistingGroup(group: GroupDescription | undefined, groupId: string): GroupDescription {
  if (group === undefined || group.state === "Dead") {
    throw new CliError(`Consumer group '${groupId}' does not exist`, "list the groups with `castle group list`");
  }
  return group;
}

/** One row of the default view; null where the value is unknown (printed as "-"). */
export interface GroupOffsetRow {
  group: string;
  topic: string;
  partition: number;
  currentOffset: number | null;
  logEndOffset: number | null;
  lag: number | null;
  consumerId: string | null;
  host: string | null;
  clientId: string | null;
}

const tpKey = (tp: TopicPartitionRef): string => `${tp.topic}\u0000${tp.partition}`;
const byTopicPartition = (a: TopicPartitionRef, b: TopicPartitionRef): number =>
  a.topic.localeCompare(b.topic) || a.partition - b.partition;

/** The partitions the default view shows: committed ones and assigned ones, once each, sorted. */
export function describedPartitions(group: GroupDescription, committed: readonly GroupOffset[]): TopicPartitionRef[] {
  const all = new Map<string, TopicPartitionRef>();
  for (const tp of [...committed, ...group.members.flatMap((m) => m.assignment)]) {
    all.set(tpKey(tp), { topic: tp.topic, partition: tp.partition });
  }
  return [...all.values()].sort(byTopicPartition);
}

/**
 * Kafka's --describe rows: each partition with its committed offset, the log end offset (high
 * watermark) and their difference, and the member it is assigned to ("-" for none).
 */
export function groupOffsetRows(
  group: GroupDescription,
  committed: readonly GroupOffset[],
  logEndOffsets: ReadonlyMap<string, number>,
): GroupOffsetRow[] {
  const committedBy = new Map(committed.map((o) => [tpKey(o), o.offset]));
  const ownerBy = new Map<string, GroupMemberDescription>();
  for (const member of group.members) for (const tp of member.assignment) ownerBy.set(tpKey(tp), member);
  return describedPartitions(group, committed).map((tp) => {
    const key = tpKey(tp);
    const current = committedBy.get(key) ?? null;
    const end = logEndOffsets.get(key);
    const logEnd = end === undefined || end < 0 ? null : end;
    const owner = ownerBy.get(key);
    return {
      group: group.groupId,
      topic: tp.topic,
      partition: tp.partition,
      currentOffset: current,
      logEndOffset: logEnd,
      lag: current === null || logEnd === null ? null : logEnd - current,
      consumerId: owner?.memberId ?? null,
      host: owner?.host ?? null,
      clientId: owner?.clientId ?? null,
    };
  });
}

export const GROUP_OFFSETS_HEAD = [
  "GROUP",
  "TOPIC",
  "PARTITION",
  "CURRENT-OFFSET",
  "LOG-END-OFFSET",
  "LAG",
  "CONSUMER-ID",
  "HOST",
  "CLIENT-ID",
];

const dash = (value: string | number | null): string | number => (value === null || value === "" ? "-" : value);

export function groupOffsetTableRows(rows: readonly GroupOffsetRow[]): (string | number)[][] {
  return rows.map((r) => [
    r.group,
    r.topic,
    r.partition,
    dash(r.currentOffset),
    dash(r.logEndOffset),
    dash(r.lag),
    dash(r.consumerId),
    dash(r.host),
    dash(r.clientId),
  ]);
}

/** The line about the group's state printed before the partitions (Kafka's wording where it has one). */
export function groupStateLine(group: GroupDescription): string {
  const id = group.groupId;
  switch (group.state) {
    case "Empty":
      return `Consumer group '${id}' has no active members.`;
    case "PreparingRebalance":
    case "CompletingRebalance":
      return `Warning: Consumer group '${id}' is rebalancing (${group.state}, ${group.members.length} member(s)); assignments may be missing.`;
    default:
      return `Consumer group '${id}' is ${group.state} with ${group.members.length} active member(s).`;
  }
}

export const GROUP_MEMBERS_HEAD = ["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS", "ASSIGNMENT"];

/** Kafka's verbose assignment text: `topic(0,1),other(2)`, topics sorted; "-" for none. */
export function assignmentText(assignment: readonly TopicPartitionRef[]): string {
  if (assignment.length === 0) return "-";
  const byTopic = new Map<string, number[]>();
  for (const tp of assignment) byTopic.set(tp.topic, [...(byTopic.get(tp.topic) ?? []), tp.partition]);
  return [...byTopic]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([topic, partitions]) => `${topic}(${partitions.sort((a, b) => a - b).join(",")})`)
    .join(",");
}

export function groupMemberRows(group: GroupDescription): (string | number)[][] {
  return group.members.map((m) => [
    group.groupId,
    m.memberId,
    dash(m.host),
    dash(m.clientId),
    m.assignment.length,
    assignmentText(m.assignment),
  ]);
}

export const GROUP_STATE_HEAD = ["GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"];

export function groupStateRow(group: GroupDescription): (string | number)[] {
  const c = group.coordinator;
  return [group.groupId, `${c.host}:${c.port} (${c.nodeId})`, dash(group.assignor), group.state, group.members.length];
}

/** What --json prints for each view. */
export function groupDescribeJson(view: GroupDescribeView, group: GroupDescription, rows: readonly GroupOffsetRow[]): unknown {
  const base = { groupId: group.groupId, state: group.state };
  if (view === "state") {
    return {
      ...base,
      coordinator: group.coordinator,
      assignmentStrategy: group.assignor,
      protocolType: group.protocolType,
      generationId: group.generationId,
      members: group.members.length,
    };
  }
  if (view === "members") return { ...base, members: group.members };
  return { ...base, members: group.members.length, partitions: rows };
}

/**
 * The high watermark of each partition, keyed like the rows; partitions of topics that no
 * longer exist are left out (their LOG-END-OFFSET shows "-").
 */
export async function logEndOffsets(
  admin: Pick<Admin, "listOffsets">,
  partitions: readonly TopicPartitionRef[],
): Promise<Map<string, number>> {
  const byTopic = new Map<string, TopicPartitionRef[]>();
  for (const tp of partitions) byTopic.set(tp.topic, [...(byTopic.get(tp.topic) ?? []), tp]);
  const out = new Map<string, number>();
  await Promise.all(
    [...byTopic.values()].map(async (list) => {
      try {
        const listed = await admin.listOffsets(list.map((tp) => ({ ...tp, spec: "latest" as const })));
        for (const o of listed) out.set(tpKey(o), o.offset);
      } catch (error) {
        if (!(error instanceof ProtocolError && error.code === "UNKNOWN_TOPIC_OR_PARTITION")) throw error;
      }
    }),
  );
  return out;
}

export function registerGroupDescribe(group: Command): void {
  group
    .command("describe")
    .description("describe a consumer group: its partitions' offsets and lag (default), its members, or its state")
    .argument("<group>", "group id")
    .option("--members", "one row per member: client, host and assigned partitions")
    .option("--state", "coordinator, assignment strategy, state and member count")
    .action(async (groupId: string, options: Options, command: Command) => {
      const globals = globalOptions(command);
      const view = groupDescribeView(options);
      const admin = new Admin({ bootstrap: globals.bootstrap });
      let described: GroupDescription;
      let rows: GroupOffsetRow[] = [];
      try {
        const [found] = await admin.describeGroups([groupId]);
        described = requireExistingGroup(found, groupId);
        if (view === "offsets") {
          const committed = await admin.listGroupOffsets(groupId);
          const ends = await logEndOffsets(admin, describedPartitions(described, committed));
          rows = groupOffsetRows(described, committed, ends);
        }
      } finally {
        admin.close();
      }
      if (globals.json) {
        printJson(groupDescribeJson(view, described, rows));
        return;
      }
      if (view === "state") {
        printTable(GROUP_STATE_HEAD, [groupStateRow(described)]);
        return;
      }
      printLine(groupStateLine(described));
      if (view === "members") {
        if (described.members.length > 0) printTable(GROUP_MEMBERS_HEAD, groupMemberRows(described));
        return;
      }
      if (rows.length === 0) printInfo(`Consumer group '${groupId}' has no committed offsets and no assigned partitions.`);
      else printTable(GROUP_OFFSETS_HEAD, groupOffsetTableRows(rows));
    });
}

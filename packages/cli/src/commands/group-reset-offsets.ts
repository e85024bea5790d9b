// castle group reset-offsets G (--topic T[:P,P...]... | --all-topics) (--to-earliest | --to-latest |
// --to-offset N | --shift-by N | --to-datetime ISO8601) [--execute]: kafka-consumer-groups
// --reset-offsets. A dry run by default: the plan is printed and nothing changes; --execute
// commits it in one admin commit (generation -1, no member id), which the coordinator takes only
// while the group has no members, so a group with members is refused up front with its state
// and member count. New offsets are clamped to [log start, high watermark], with a warning, as
// Kafka does; --to-datetime takes the first offset at or after the time (the high watermark when
// no record is that new); --shift-by moves from the committed offset, or from the high
// watermark where none is committed (where a new consumer starts with Kafka's default
// auto.offset.reset=latest). Option checks and the plan are pure functions.

import { Admin, type GroupDescription, type GroupOffset, type ListedOffset, type TopicPartitionRef } from "@castle/client";
import { ProtocolError } from "@castle/protocol";
import { type Command, InvalidArgumentError } from "commander";
import { CliError } from "../support/cli-error.js";
import { globalOptions } from "../support/global-options.js";
import { printInfo, printJson, printTable } from "../support/output.js";
import { collect, nonNegativeInt } from "../support/parse-options.js";
import { requirePartition } from "../support/require-topic.js";

interface Options {
  topic?: string[];
  allTopics?: boolean;
  toEarliest?: boolean;
  toLatest?: boolean;
  toOffset?: number;
  shiftBy?: number;
  toDatetime?: number;
  execute?: boolean;
}

export type ResetScenario =
  | { kind: "to-earliest" }
  | { kind: "to-latest" }
  | { kind: "to-offset"; offset: number }
  | { kind: "shift-by"; shift: number }
  | { kind: "to-datetime"; timestampMs: number };

const SCENARIOS = "--to-earliest, --to-latest, --to-offset N, --shift-by N or --to-datetime YYYY-MM-DDTHH:mm:SS";

/** Exactly one scenario option (Kafka's rule). */
export function resetScenario(options: Options): ResetScenario {
  const given: ResetScenario[] = [];
  if (options.toEarliest === true) given.push({ kind: "to-earliest" });
  if (options.toLatest === true) given.push({ kind: "to-latest" });
  if (options.toOffset !== undefined) given.push({ kind: "to-offset", offset: options.toOffset });
  if (options.shiftBy !== undefined) given.push({ kind: "shift-by", shift: options.shiftBy });
  if (options.toDatetime !== undefined) given.push({ kind: "to-datetime", timestampMs: options.toDatetime });
  const [first] = given;
  if (first === undefined) throw new CliError("no reset scenario given", `give one of ${SCENARIOS}`);
  if (given.length > 1) {
    throw new CliError(`${given.map((s) => `--${s.kind}`).join(" and ")} cannot be combined`, `give exactly one of ${SCENARIOS}`);
  }
  return first;
}

/** One --topic value: a topic, or a topic with some of its partitions. */
export interface TopicSelection {
  topic: string;
  /** Undefined = every partition of the topic. */
  partitions: number[] | undefined;
}

/** `T` or `T:P,P...` (kafka-consumer-groups' --topic). */
export function parseTopicSelection(value: string): TopicSelection {
  const colon = value.lastIndexOf(":");
  const topic = (colon < 0 ? value : value.slice(0, colon)).trim();
  if (topic.length === 0) throw new CliError(`--topic '${value}' names no topic`, "give --topic T or --topic T:P,P...");
  if (colon < 0) return { topic, partitions: undefined };
  const partitions = value
    .slice(colon + 1)
    .split(",")
    .map((p) => p.trim());
  if (partitions.some((p) => !/^\d+$/.test(p) || !Number.isSafeInteger(Number(p)))) {
    throw new CliError(
      `--topic '${value}' has a bad partition list`,
      "give partition numbers (0 or more) after the colon, e.g. --topic orders:0,2",
    );
  }
  return { topic, partitions: [...new Set(partitions.map(Number))].sort((a, b) => a - b) };
}

export type PartitionSelection = { kind: "topics"; topics: TopicSelection[] } | { kind: "all-topics" };

const SELECTIONS = "give --topic T[:P,P...] (repeatable) or --all-topics";

/** Which partitions to reset: --topic (repeatable) or --all-topics, not both and not neither. */
export function partitionSelection(options: Options): PartitionSelection {
  const topics = options.topic ?? [];
  if (options.allTopics === true && topics.length > 0) throw new CliError("--topic and --all-topics cannot be combined", SELECTIONS);
  if (options.allTopics === true) return { kind: "all-topics" };
  if (topics.length === 0) throw new CliError("no partitions to reset", SELECTIONS);
  return { kind: "topics", topics: topics.map(parseTopicSelection) };
}

/** Refuses a group with members: the coordinator takes an admin commit only from a group without any. */
export function requireInactiveGroup(group: GroupDescription | undefined, groupId: string): void {
  if (group === undefined || group.members.length === 0) return;
  throw new CliError(
    `cannot reset the offsets of consumer group '${groupId}': offsets can only be reset while a group is inactive, but it is ${group.state} with ${group.members.length} active member(s)`,
    "stop the group's consumers (or wait for their sessions to time out), then run this again",
  );
}

/** The partitions to reset, checked against the topics (an unknown topic or partition is an error). */
export async function partitionsToReset(
  selection: PartitionSelection,
  groupId: string,
  committed: readonly GroupOffset[],
  admin: Pick<Admin, "describeTopics">,
): Promise<TopicPartitionRef[]> {
  if (selection.kind === "all-topics") {
    if (committed.length === 0) {
      throw new CliError(
        `consumer group '${groupId}' has no committed offsets, so --all-topics names no partitions`,
        "name them with --topic T",
      );
    }
    return committed.map((o) => ({ topic: o.topic, partition: o.partition }));
  }
  const out = new Map<string, TopicPartitionRef>();
  for (const { topic, partitions } of selection.topics) {
    let description: Awaited<ReturnType<Admin["describeTopics"]>>[number] | undefined;
    try {
      [description] = await admin.describeTopics([topic]);
    } catch (error) {
      if (!(error instanceof ProtocolError && error.code === "UNKNOWN_TOPIC_OR_PARTITION")) throw error;
    }
    if (description === undefined) throw new CliError(`topic '${topic}' does not exist`, "list topics with `castle topic list`");
    for (const partition of partitions ?? description.partitions.map((p) => p.partition)) {
      requirePartition(description, partition);
      out.set(`${topic}\u0000${partition}`, { topic, partition });
    }
  }
  return [...out.values()].sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
}

/** What the plan needs to know of each partition, keyed `topic\0partition`. */
export interface PartitionOffsets {
  logStart: ReadonlyMap<string, number>;
  logEnd: ReadonlyMap<string, number>;
  committed: ReadonlyMap<string, number>;
  /** --to-datetime only: the first offset at or after the time; -1 when no record is that new. */
  atTime?: ReadonlyMap<string, number>;
}

export interface PlannedOffset {
  topic: string;
  partition: number;
  offset: number;
}

const key = (tp: TopicPartitionRef): string => `${tp.topic}\u0000${tp.partition}`;

/** The new offset of every partition, clamped to [log start, high watermark] with a warning each time (Kafka's checkOffsetsRange). */
export function planResets(
  scenario: ResetScenario,
  partitions: readonly TopicPartitionRef[],
  offsets: PartitionOffsets,
): { plan: PlannedOffset[]; warnings: string[] } {
  const warnings: string[] = [];
  const plan = partitions.map((tp) => {
    const k = key(tp);
    const start = offsets.logStart.get(k) ?? 0;
    const end = offsets.logEnd.get(k) ?? start;
    let wanted: number;
    switch (scenario.kind) {
      case "to-earliest":
        wanted = start;
        break;
      case "to-latest":
        wanted = end;
        break;
      case "to-offset":
        wanted = scenario.offset;
        break;
      case "shift-by":
        wanted = (offsets.committed.get(k) ?? end) + scenario.shift;
        break;
      case "to-datetime": {
        const found = offsets.atTime?.get(k) ?? -1;
        wanted = found < 0 ? end : found;
        break;
      }
    }
    let offset = wanted;
    if (wanted > end) {
      warnings.push(`New offset (${wanted}) is higher than the latest offset of ${tp.topic}-${tp.partition}; it will be set to ${end}.`);
      offset = end;
    } else if (wanted < start) {
      warnings.push(`New offset (${wanted}) is lower than the earliest offset of ${tp.topic}-${tp.partition}; it will be set to ${start}.`);
      offset = start;
    }
    return { topic: tp.topic, partition: tp.partition, offset };
  });
  return { plan, warnings };
}

export const RESET_HEAD = ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"];

export function resetRows(groupId: string, plan: readonly PlannedOffset[]): (string | number)[][] {
  return plan.map((p) => [groupId, p.topic, p.partition, p.offset]);
}

export function dryRunNote(groupId: string): string {
  return `Dry run: nothing was changed. To commit these offsets for group '${groupId}', run the same command with --execute.`;
}

export function executedNote(groupId: string, count: number): string {
  return `Committed the new offsets of ${count} partition(s) for group '${groupId}'.`;
}

/** --shift-by: any integer, negative to move back. */
export function shiftArg(value: string): number {
  const trimmed = value.trim();
  const n = /^[-+]?\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError("expected an integer (negative to move back), e.g. --shift-by -10");
  return n;
}

const DATETIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * --to-datetime: ISO 8601 `YYYY-MM-DDTHH:mm[:SS[.sss]]` with an optional `Z` or `±HH:mm`
 * (Kafka's format); without a zone the local time zone, as Kafka reads it. Impossible dates
 * (2024-02-30) are refused rather than rolled over.
 */
export function datetimeArg(value: string): number {
  const text = value.trim();
  const m = DATETIME.exec(text);
  const fail = (): never => {
    throw new InvalidArgumentError("expected an ISO 8601 time such as 2024-05-01T12:00:00 (local time), 2024-05-01T12:00:00Z or ...+02:00");
  };
  if (m === null) return fail();
  const [, year, month, day, hour, minute, second] = m.map((part) => (part === undefined ? 0 : Number(part)));
  const daysInMonth = new Date(Date.UTC(year ?? 0, month ?? 0, 0)).getUTCDate();
  const valid = (month ?? 0) >= 1 && (month ?? 0) <= 12 && (day ?? 0) >= 1 && (day ?? 0) <= daysInMonth && (hour ?? 0) <= 23;
  if (!valid || (minute ?? 0) > 59 || (second ?? 0) > 59) return fail();
  const zone = m[8];
  const normalised = zone !== undefined && /^[+-]\d{4}$/.test(zone) ? `${text.slice(0, -5)}${zone.slice(0, 3)}:${zone.slice(3)}` : text;
  const ms = Date.parse(normalised);
  return Number.isFinite(ms) ? ms : fail();
}

/** The offsets the plan needs, from the partitions' leaders. */
async function lookUpOffsets(
  admin: Pick<Admin, "listOffsets">,
  scenario: ResetScenario,
  partitions: readonly TopicPartitionRef[],
  committed: readonly GroupOffset[],
): Promise<PartitionOffsets> {
  const asMap = (listed: readonly ListedOffset[]) => new Map(listed.map((o) => [key(o), o.offset]));
  const [logStart, logEnd, atTime] = await Promise.all([
    admin.listOffsets(partitions.map((tp) => ({ ...tp, spec: "earliest" as const }))),
    admin.listOffsets(partitions.map((tp) => ({ ...tp, spec: "latest" as const }))),
    scenario.kind === "to-datetime"
      ? admin.listOffsets(partitions.map((tp) => ({ ...tp, spec: { timestampMs: scenario.timestampMs } })))
      : Promise.resolve([]),
  ]);
  return {
    logStart: asMap(logStart),
    logEnd: asMap(logEnd),
    committed: new Map(committed.map((o) => [key(o), o.offset])),
    atTime: asMap(atTime),
  };
}

export function registerGroupResetOffsets(group: Command): void {
  group
    .command("reset-offsets")
    .description("plan (default) or --execute new committed offsets for a group without active members")
    .argument("<group>", "group id")
    .option("--topic <topic[:partitions]>", "a topic, or some of its partitions as T:0,2 (repeatable)", collect)
    .option("--all-topics", "every topic the group has committed offsets for")
    .option("--to-earliest", "to the log start offset")
    .option("--to-latest", "to the high watermark")
    .option("--to-offset <offset>", "to this offset", nonNegativeInt)
    .option("--shift-by <n>", "by n from the committed offset (negative to move back)", shiftArg)
    .option("--to-datetime <time>", "to the first offset at or after this ISO 8601 time", datetimeArg)
    .option("--execute", "commit the new offsets (without it, only print them)")
    .action(async (groupId: string, options: Options, command: Command) => {
      const globals = globalOptions(command);
      const scenario = resetScenario(options);
      const selection = partitionSelection(options);
      const admin = new Admin({ bootstrap: globals.bootstrap });
      let plan: PlannedOffset[];
      try {
        const [described] = await admin.describeGroups([groupId]);
        requireInactiveGroup(described, groupId);
        const committed = await admin.listGroupOffsets(groupId);
        const partitions = await partitionsToReset(selection, groupId, committed, admin);
        const offsets = await lookUpOffsets(admin, scenario, partitions, committed);
        const planned = planResets(scenario, partitions, offsets);
        plan = planned.plan;
        for (const warning of planned.warnings) printInfo(`warning: ${warning}`);
        if (options.execute === true) await admin.alterGroupOffsets(groupId, plan);
      } finally {
        admin.close();
      }
      if (globals.json) printJson({ groupId, executed: options.execute === true, offsets: plan });
      else printTable(RESET_HEAD, resetRows(groupId, plan));
      printInfo(options.execute === true ? executedNote(groupId, plan.length) : dryRunNote(groupId));
    });
}

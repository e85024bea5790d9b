// castle topic elect-leaders --all | --topic T [--partition P]: preferred-leader election
// (kafka-leader-election.sh --election-type preferred, KIP-460). A partition whose preferred
// leader already leads is a normal outcome; any other per-partition failure makes the exit
// code 1 after the whole table is printed. Option checks and formatting are pure functions.

import { Admin, type ElectionOutcome, type TopicDescription, type TopicPartitionRef } from "@castle/client";
import { ProtocolError } from "@castle/protocol";
import type { Command } from "commander";
import { CliError } from "../support/cli-error.js";
import { globalOptions } from "../support/global-options.js";
import { printInfo, printJson, printTable } from "../support/output.js";
import { nonNegativeInt } from "../support/parse-options.js";
import { requirePartition } from "../support/require-topic.js";

interface Options {
  all?: boolean;
  topic?: string;
  partition?: number;
}

export type ElectionSelection = { kind: "all" } | { kind: "topic"; topic: string; partition: number | undefined };

const FORMS = "give --all, or --topic T [--partition P]";

/** Exactly one form: --all, or --topic with an optional --partition. */
export function electionSelection(options: Options): ElectionSelection {
  const all = options.all === true;
  if (all && options.topic !== undefined) throw new CliError("--all and --topic cannot be combined", FORMS);
  if (options.partition !== undefined && options.topic === undefined) throw new CliError("--partition needs --topic", FORMS);
  if (all) return { kind: "all" };
  if (options.topic === undefined) throw new CliError("nothing to elect", FORMS);
  if (options.topic.length === 0) throw new CliError("--topic needs a topic name", FORMS);
  return { kind: "topic", topic: options.topic, partition: options.partition };
}

/**
 * The partitions to ask for: none for --all (the server then picks every partition whose
 * preferred leader is not leading), else the topic's partitions, listed with describeTopics.
 */
export async function partitionsToElect(selection: ElectionSelection, admin: Pick<Admin, "describeTopics">): Promise<TopicPartitionRef[]> {
  if (selection.kind === "all") return [];
  const { topic, partition } = selection;
  let description: TopicDescription | undefined;
  try {
    [description] = await admin.describeTopics([topic]);
  } catch (error) {
    if (!(error instanceof ProtocolError && error.code === "UNKNOWN_TOPIC_OR_PARTITION")) throw error;
  }
  if (description === undefined) throw new CliError(`topic '${topic}' does not exist`, "list topics with `castle topic list`");
  if (partition !== undefined) {
    requirePartition(description, partition);
    return [{ topic, partition }];
  }
  return description.partitions.map((p) => ({ topic, partition: p.partition }));
}

const isNotNeeded = (outcome: ElectionOutcome): boolean => outcome.error?.code === "ELECTION_NOT_NEEDED";

/** Elections that failed for a reason other than ELECTION_NOT_NEEDED. */
export function failedElections(outcomes: readonly ElectionOutcome[]): ElectionOutcome[] {
  return outcomes.filter((o) => o.error !== null && !isNotNeeded(o));
}

/** "elected", "already preferred", or the error from its name on (the row already names the partition). */
export function electionResultText(outcome: ElectionOutcome): string {
  const { error } = outcome;
  if (error === null) return "elected";
  if (isNotNeeded(outcome)) return "already preferred";
  const at = error.message.indexOf(`${error.code}: `);
  return at < 0 ? error.message : error.message.slice(at);
}

export const ELECTION_HEAD = ["Topic", "Partition", "Leader", "Result"];

export function electionRows(outcomes: readonly ElectionOutcome[]): (string | number)[][] {
  return outcomes.map((o) => [o.topic, o.partition, o.leaderId < 0 ? "none" : o.leaderId, electionResultText(o)]);
}

/** The outcomes for --json: errors as {code, message} (an Error serialises without its message). */
export function electionJson(outcomes: readonly ElectionOutcome[]): unknown[] {
  return outcomes.map((o) => ({
    topic: o.topic,
    partition: o.partition,
    leaderId: o.leaderId,
    error: o.error === null ? null : { code: o.error.code, message: o.error.message },
  }));
}

export function registerTopicElectLeaders(topic: Command): void {
  topic
    .command("elect-leaders")
    .description("move partition leadership back to each partition's preferred (first) replica")
    .option("--all", "every partition whose preferred leader is not leading")
    .option("--topic <name>", "every partition of this topic (or one, with --partition)")
    .option("--partition <n>", "only this partition of --topic", nonNegativeInt)
    .action(async (options: Options, command: Command) => {
      const globals = globalOptions(command);
      const selection = electionSelection(options);
      const admin = new Admin({ bootstrap: globals.bootstrap });
      let outcomes: ElectionOutcome[];
      try {
        outcomes = await admin.electLeaders(await partitionsToElect(selection, admin));
      } finally {
        admin.close();
      }
      if (globals.json) printJson(electionJson(outcomes));
      else if (outcomes.length === 0) printInfo("No election needed: every preferred leader is leading.");
      else printTable(ELECTION_HEAD, electionRows(outcomes));
      const failed = failedElections(outcomes);
      if (failed.length > 0) {
        throw new CliError(`the preferred leader was not elected for ${failed.length} of ${outcomes.length} partitions`);
      }
    });
}

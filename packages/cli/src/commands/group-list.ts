// castle group list [--state S[,S...]]: every consumer group in the cluster (kafka-consumer-groups
// --list, with --state's columns always shown, plus the protocol type and the coordinator).
// The Admin asks every broker, since each lists only the groups it coordinates.

import { Admin, GROUP_STATES, type GroupListing } from "@castle/client";
import type { Command } from "commander";
import { CliError } from "../support/cli-error.js";
import { globalOptions } from "../support/global-options.js";
import { printJson, printTable } from "../support/output.js";

export const GROUP_LIST_HEAD = ["GROUP", "STATE", "PROTOCOL TYPE", "COORDINATOR"];

/** `--state` as Kafka takes it: comma-separated state names, any case; each spelled as Kafka does. */
export function parseGroupStates(value: string | undefined): string[] {
  if (value === undefined) return [];
  const names = value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length === 0) throw new CliError("--state needs a state name", `give one or more of ${GROUP_STATES.join(", ")}`);
  return names.map((name) => {
    const state = GROUP_STATES.find((s) => s.toLowerCase() === name.toLowerCase());
    if (state === undefined) throw new CliError(`unknown group state '${name}'`, `give one or more of ${GROUP_STATES.join(", ")}`);
    return state;
  });
}

export function groupListRows(groups: readonly GroupListing[]): (string | number)[][] {
  return groups.map((g) => [g.groupId, g.state, g.protocolType || "-", g.coordinatorId]);
}

export function registerGroupList(group: Command): void {
  group
    .command("list")
    .description("list the consumer groups of every broker")
    .option("--state <states>", `only groups in these states (comma-separated: ${GROUP_STATES.join(", ")})`)
    .action(async (options: { state?: string }, command: Command) => {
      const globals = globalOptions(command);
      const states = parseGroupStates(options.state);
      const admin = new Admin({ bootstrap: globals.bootstrap });
      try {
        const groups = await admin.listGroups({ states });
        if (globals.json) printJson(groups);
        else printTable(GROUP_LIST_HEAD, groupListRows(groups));
      } finally {
        admin.close();
      }
    });
}

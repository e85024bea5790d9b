// castle group delete G [G...]: deletes consumer groups and their committed offsets
// (kafka-consumer-groups --delete). Only a group without members can go: the coordinator
// answers NON_EMPTY_GROUP otherwise, and GROUP_ID_NOT_FOUND for a group it does not know. Every
// group's result is printed; any failure makes the exit code 1 afterwards.

import { Admin, type DeletedGroup } from "@castle/client";
import type { Command } from "commander";
import { CliError } from "../support/cli-error.js";
import { globalOptions } from "../support/global-options.js";
import { printJson, printTable } from "../support/output.js";

export const GROUP_DELETE_HEAD = ["GROUP", "RESULT"];

/** "deleted", or the error from its name on (the row already names the group). */
export function deleteResultText(result: DeletedGroup): string {
  const { error } = result;
  if (error === null) return "deleted";
  const at = error.message.indexOf(`${error.code}: `);
  return at < 0 ? error.message : error.message.slice(at);
}

export function deleteRows(results: readonly DeletedGroup[]): (string | number)[][] {
  return results.map((r) => [r.groupId, deleteResultText(r)]);
}

/** The results for --json: errors as {code, message} (an Error serialises without its message). */
export function deleteJson(results: readonly DeletedGroup[]): unknown[] {
  return results.map((r) => ({ groupId: r.groupId, error: r.error === null ? null : { code: r.error.code, message: r.error.message } }));
}

/** The error to exit with when some groups were not deleted, with the fix for each kind of refusal; undefined when all were. */
export function deleteFailure(results: readonly DeletedGroup[]): CliError | undefined {
  const failed = results.filter((r) => r.error !== null);
  if (failed.length === 0) return undefined;
  const fixes: string[] = [];
  if (failed.some((r) => r.error?.code === "NON_EMPTY_GROUP")) fixes.push("stop a group's consumers before deleting it");
  if (failed.some((r) => r.error?.code === "GROUP_ID_NOT_FOUND")) fixes.push("list the groups with `castle group list`");
  const cause = `${failed.length} of ${results.length} consumer group(s) could not be deleted: ${failed.map((r) => `'${r.groupId}'`).join(", ")}`;
  return new CliError(cause, fixes.length > 0 ? fixes.join("; ") : undefined);
}

export function registerGroupDelete(group: Command): void {
  group
    .command("delete")
    .description("delete consumer groups without members, with their committed offsets")
    .argument("<groups...>", "group ids")
    .action(async (groupIds: string[], _options: unknown, command: Command) => {
      const globals = globalOptions(command);
      const admin = new Admin({ bootstrap: globals.bootstrap });
      let results: DeletedGroup[];
      try {
        results = await admin.deleteGroups(groupIds);
      } finally {
        admin.close();
      }
      if (globals.json) printJson(deleteJson(results));
      else printTable(GROUP_DELETE_HEAD, deleteRows(results));
      const failure = deleteFailure(results);
      if (failure !== undefined) throw failure;
    });
}

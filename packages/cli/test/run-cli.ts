// The CLI tests' runner: @castle/testkit's, under the names these tests use.

import { type CliResult, castleCliPath, runCastleCli } from "@castle/testkit";

export type { CliResult };

export const CLI = castleCliPath();

export function runCli(args: string[], options: { stdin?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  return runCastleCli(args, options);
}

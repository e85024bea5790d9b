// Builds the `castle` command and runs it: global options, the command registry, and the one
// place that turns errors into `error: <cause>. <fix>` on stderr and an exit code.

import { Command, CommanderError } from "commander";
import { registerCommands } from "./commands/register-commands.js";
import { describeError } from "./support/cli-error.js";
import { DEFAULT_BOOTSTRAP } from "./support/global-options.js";

export function buildProgram(): Command {
  const program = new Command("castle")
    .description("Castle: a replicated commit log with Kafka's semantics")
    .version("0.1.0")
    .option("--bootstrap <host:port[,host:port]>", `servers to connect to (env CASTLE_BOOTSTRAP, default ${DEFAULT_BOOTSTRAP})`)
    .option("--json", "machine-readable output")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  registerCommands(program);
  for (const command of allCommands(program)) command.exitOverride();
  return program;
}

function allCommands(command: Command): Command[] {
  return command.commands.flatMap((c) => [c, ...allCommands(c)]);
}

/** Runs the CLI with `argv` (node-style, with the first two entries); resolves to the exit code. */
export async function run(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 1; // commander printed it
    const { message, expected } = describeError(error);
    process.stderr.write(`error: ${message}\n`);
    if (!expected && process.env["CASTLE_DEBUG"] && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    return 1;
  }
}

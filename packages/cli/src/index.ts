export { registerCommands } from "./commands/register-commands.js";
export { buildProgram, run } from "./program.js";
export { CliError, describeError } from "./support/cli-error.js";

export { registerCommands } from "./commands/register-commands.js";
export { missingServerNodeFlags, SERVER_NODE_FLAGS } from "./node-flags.js";
export { buildProgram, run } from "./program.js";
export { CliError, describeError } from "./support/cli-error.js";

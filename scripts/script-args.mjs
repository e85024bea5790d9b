// Argument parsing shared by the scripts under scripts/ (benches, chaos, sim): node's parseArgs
// with the two things a user at a terminal needs. --help (or -h) prints the script's usage, the
// first block of // comments in the file, and exits 0; an unknown or malformed option prints
// the cause and where the usage is, and exits 2, instead of a stack trace.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

/** parseArgs({ options }) over this process's arguments, for the script at `scriptUrl` (its import.meta.url). */
export function parseScriptArgs(scriptUrl, options) {
  const argv = process.argv.slice(2);
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(usageOf(scriptUrl));
    process.exit(0);
  }
  try {
    return parseArgs({ options, args: argv });
  } catch (error) {
    process.stderr.write(`${error.message}\nrun it with --help for its options\n`);
    process.exit(2);
  }
}

/** The first run of // comment lines in the file, without the slashes. */
export function usageOf(scriptUrl) {
  const lines = readFileSync(fileURLToPath(scriptUrl), "utf8").split("\n");
  const start = lines.findIndex((line) => line.startsWith("//"));
  if (start < 0) return "(no usage written in this script)\n";
  const usage = [];
  for (const line of lines.slice(start)) {
    if (!line.startsWith("//")) break;
    usage.push(line.replace(/^\/\/ ?/, ""));
  }
  return `${usage.join("\n")}\n`;
}

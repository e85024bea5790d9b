// Options every command shares: --bootstrap (env CASTLE_BOOTSTRAP) and --json.

import type { Command } from "commander";

export interface GlobalOptions {
  bootstrap: string;
  json: boolean;
}

export const DEFAULT_BOOTSTRAP = "localhost:9092";

export function globalOptions(command: Command): GlobalOptions {
  const all = command.optsWithGlobals<{ bootstrap?: string; json?: boolean }>();
  return {
    bootstrap: all.bootstrap ?? process.env["CASTLE_BOOTSTRAP"] ?? DEFAULT_BOOTSTRAP,
    json: all.json ?? false,
  };
}

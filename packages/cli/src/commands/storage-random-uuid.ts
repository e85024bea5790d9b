// castle storage random-uuid: prints a new cluster id (16 random bytes, URL-safe base64), as
// kafka-storage.sh random-uuid does, for `castle storage format --cluster-id`.

import { newId } from "@castle/broker";
import type { Command } from "commander";
import { globalOptions } from "../support/global-options.js";
import { printJson, printLine } from "../support/output.js";

export function registerStorageRandomUuid(storage: Command): void {
  storage
    .command("random-uuid")
    .description("print a new cluster id for `castle storage format --cluster-id`")
    .action((_options: unknown, command: Command) => {
      const clusterId = newId();
      if (globalOptions(command).json) printJson({ clusterId });
      else printLine(clusterId);
    });
}

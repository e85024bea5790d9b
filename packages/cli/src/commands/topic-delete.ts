// castle topic delete NAME

import { Admin } from "@castle/client";
import type { Command } from "commander";
import { globalOptions } from "../support/global-options.js";
import { printJson, printLine } from "../support/output.js";

export function registerTopicDelete(topic: Command): void {
  topic
    .command("delete")
    .description("delete a topic and its data")
    .argument("<name>", "topic name")
    .action(async (name: string, _options: unknown, command: Command) => {
      const globals = globalOptions(command);
      const admin = new Admin({ bootstrap: globals.bootstrap });
      try {
        await admin.deleteTopics([name]);
        if (globals.json) printJson({ deleted: name });
        else printLine(`Deleted topic ${name}.`);
      } finally {
        admin.close();
      }
    });
}

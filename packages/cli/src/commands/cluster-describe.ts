// castle cluster describe: cluster id, controller and brokers.

import { Admin } from "@castle/client";
import type { Command } from "commander";
import { globalOptions } from "../support/global-options.js";
import { printJson, printLine, printTable } from "../support/output.js";

export function registerClusterDescribe(cluster: Command): void {
  cluster
    .command("describe")
    .description("show the cluster id, the controller and the brokers")
    .action(async (_options: unknown, command: Command) => {
      const globals = globalOptions(command);
      const admin = new Admin({ bootstrap: globals.bootstrap });
      try {
        const description = await admin.describeCluster();
        if (globals.json) {
          printJson(description);
          return;
        }
        printLine(`Cluster ID: ${description.clusterId}`);
        printLine(`Controller: ${description.controllerId}`);
        printTable(
          ["Id", "Host", "Port", "Rack"],
          description.brokers.map((b) => [b.nodeId, b.host, b.port, b.rack || "-"]),
        );
      } finally {
        admin.close();
      }
    });
}

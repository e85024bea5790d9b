// castle cluster describe: cluster id, controller, and every node (brokers, fenced or not,
// and controllers) as the active controller sees them. The rows are built by pure functions.

import { Admin, type ClusterNodeDescription } from "@castle/client";
import type { Command } from "commander";
import { globalOptions } from "../support/global-options.js";
import { printJson, printLine, printTable } from "../support/output.js";

export const CLUSTER_NODES_HEAD = ["Id", "Roles", "Host", "Port", "Rack", "Status", "LastHeartbeat", "Epoch"];

export function nodeRoles(node: ClusterNodeDescription): string {
  const roles: string[] = [];
  if (node.isBroker) roles.push("broker");
  if (node.isController) roles.push("controller");
  return roles.join(",") || "-";
}

/** A broker's registration state; "-" for a controller-only node, which has none. */
export function nodeStatus(node: ClusterNodeDescription): string {
  if (!node.isBroker) return "-";
  if (node.fenced) return "fenced";
  return node.inControlledShutdown ? "shutting down" : "unfenced";
}

export function heartbeatText(lastHeartbeatAgeMs: number): string {
  return lastHeartbeatAgeMs < 0 ? "-" : `${lastHeartbeatAgeMs} ms ago`;
}

export function clusterNodeRows(nodes: readonly ClusterNodeDescription[]): (string | number)[][] {
  return nodes.map((n) => {
    const hasEndpoint = n.host.length > 0;
    return [
      n.nodeId,
      nodeRoles(n),
      hasEndpoint ? n.host : "-",
      hasEndpoint ? n.port : "-",
      n.rack || "-",
      nodeStatus(n),
      heartbeatText(n.lastHeartbeatAgeMs),
      n.isBroker && n.brokerEpoch >= 0 ? n.brokerEpoch : "-",
    ];
  });
}

export function controllerText(controllerId: number): string {
  return controllerId < 0 ? "none" : String(controllerId);
}

export function registerClusterDescribe(cluster: Command): void {
  cluster
    .command("describe")
    .description("show the cluster id, the active controller and every broker and controller")
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
        printLine(`Controller: ${controllerText(description.controllerId)}`);
        printTable(CLUSTER_NODES_HEAD, clusterNodeRows(description.nodes));
      } finally {
        admin.close();
      }
    });
}

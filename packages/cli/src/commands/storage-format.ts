// castle storage format --cluster-id ID (--data-dir DIR --node-id N | --config FILE): gives a data
// directory its identity (meta.properties) before the node's first start, as kafka-storage.sh
// format does. Every node of a multi-node cluster is formatted with the same cluster id.

import { clusterIdProblem, formatStorage, loadBrokerConfig } from "@castle/broker";
import type { Command } from "commander";
import { CliError } from "../support/cli-error.js";
import { globalOptions } from "../support/global-options.js";
import { printJson, printLine } from "../support/output.js";
import { nonNegativeInt } from "../support/parse-options.js";

interface Options {
  config?: string;
  dataDir?: string;
  clusterId?: string;
  nodeId?: number;
}

export function registerStorageFormat(storage: Command): void {
  storage
    .command("format")
    .description("write a data directory's identity (meta.properties) before the node's first start (like kafka-storage format)")
    .option(
      "--config <file>",
      "the node's config file: data.dir, node.id and cluster.id come from it (or CASTLE_* env) unless given as flags",
    )
    .option("--data-dir <dir>", "data.dir to format")
    .option("--cluster-id <id>", "the cluster's id, the same on every node (make one with `castle storage random-uuid`)")
    .option("--node-id <n>", "node.id of the node that will use the directory", nonNegativeInt)
    .action((options: Options, command: Command) => {
      const globals = globalOptions(command);
      if (options.config === undefined && options.dataDir === undefined) {
        throw new CliError("no data directory given", "give --data-dir DIR (with --node-id N), or --config FILE");
      }
      if (options.config === undefined && options.nodeId === undefined) {
        throw new CliError("no node id given", "give --node-id N (the node.id the node will start with), or --config FILE");
      }
      if (options.clusterId !== undefined) {
        const problem = clusterIdProblem(options.clusterId);
        if (problem !== undefined) throw new CliError(`--cluster-id: ${problem}`);
      }
      const flags: Record<string, string> = {};
      if (options.dataDir !== undefined) flags["data.dir"] = options.dataDir;
      if (options.nodeId !== undefined) flags["node.id"] = String(options.nodeId);
      if (options.clusterId !== undefined) flags["cluster.id"] = options.clusterId;
      // The same sources, in the same precedence, as `castle server start`, so both see one identity.
      const config = loadBrokerConfig({ ...(options.config ? { file: options.config } : {}), env: process.env, flags });
      if (config.clusterId === "") {
        throw new CliError(
          "no cluster id given",
          "give --cluster-id ID (make one with `castle storage random-uuid`) or set cluster.id in --config",
        );
      }
      const { meta, written } = formatStorage(config.dataDir, { clusterId: config.clusterId, nodeId: config.nodeId });
      if (globals.json) printJson({ dataDir: config.dataDir, clusterId: meta.clusterId, nodeId: meta.nodeId, formatted: written });
      else if (written) printLine(`Formatted ${config.dataDir}: cluster ${meta.clusterId}, node ${meta.nodeId}.`);
      else printLine(`${config.dataDir} is already formatted as cluster ${meta.clusterId}, node ${meta.nodeId}; nothing to do.`);
    });
}

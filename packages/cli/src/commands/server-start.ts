// `castle server start`: runs a node in the foreground until SIGINT/SIGTERM, then shuts it
// down cleanly (flushes logs, writes recovery points). Config precedence: flags, then
// CASTLE_* env, then --config FILE, then defaults (see docs/configuration.md).

import { loadBrokerConfig, startNode } from "@castle/broker";
import type { Command } from "commander";
import { missingServerNodeFlags } from "../node-flags.js";

interface ServerStartOptions {
  config?: string;
  nodeId?: string;
  dataDir?: string;
  host?: string;
  clientPort?: string;
  httpPort?: string;
  override: string[];
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function registerServerStart(program: Command): void {
  const server = program.command("server").description("run a Castle node");
  server
    .command("start")
    .description("start a node in the foreground (combined controller and broker, data under --data-dir)")
    .option("--config <file>", "config file of key=value lines (see docs/configuration.md)")
    .option("--node-id <n>", "node.id")
    .option("--data-dir <dir>", "data.dir (default ./data)")
    .option("--host <addr>", "listener.host to bind (default 0.0.0.0)")
    .option("--client-port <port>", "client.port (default 9092; 0 = any free port)")
    .option("--http-port <port>", "http.port for /metrics, /healthz, /readyz (default 9644)")
    .option("--override <key=value>", "set any config key (repeatable), e.g. --override num.partitions=3", collect, [])
    .action(async (options: ServerStartOptions) => {
      const flags: Record<string, string> = {};
      for (const pair of options.override) {
        const eq = pair.indexOf("=");
        if (eq <= 0) throw new Error(`--override expects key=value, got "${pair}"`);
        flags[pair.slice(0, eq)] = pair.slice(eq + 1);
      }
      if (options.nodeId !== undefined) flags["node.id"] = options.nodeId;
      if (options.dataDir !== undefined) flags["data.dir"] = options.dataDir;
      if (options.host !== undefined) flags["listener.host"] = options.host;
      if (options.clientPort !== undefined) flags["client.port"] = options.clientPort;
      if (options.httpPort !== undefined) flags["http.port"] = options.httpPort;
      const config = loadBrokerConfig({ ...(options.config ? { file: options.config } : {}), env: process.env, flags });
      let fatal: Error | undefined;
      let stopForFatal: ((error: Error) => void) | undefined;
      const node = await startNode(config, {
        onFatal: (error) => {
          fatal = error;
          stopForFatal?.(error);
        },
      });
      const missing = missingServerNodeFlags();
      if (missing.length > 0) {
        process.stderr.write(
          `warning: node was started without ${missing.join(" ")}; expect more frequent GC pauses under load. ` +
            `Start the node with \`castle server start\` (its executable sets them) or pass them to node: node ${missing.join(" ")} .../main.js server start\n`,
        );
      }
      const clients =
        node.clientPort < 0 ? "controller only (no client listener)" : `serving clients on ${config.advertisedHost}:${node.clientPort}`;
      process.stdout.write(
        `Castle node ${config.nodeId} (cluster ${node.clusterId}) ${clients}, controller listener on port ${node.controllerPort}, ` +
          `metrics on http://${config.advertisedHost}:${node.httpPort}/metrics, data in ${config.dataDir}. Ctrl-C stops it.\n`,
      );
      // The action resolves only when the node has shut down, so the CLI's exit path runs after it.
      await new Promise<void>((resolve, reject) => {
        let stopping = false;
        const stop = (signal: string) => {
          if (stopping) return;
          stopping = true;
          process.stdout.write(`${signal}: shutting down\n`);
          node.close().then(resolve, (error: unknown) => reject(new Error(`shutdown failed: ${(error as Error).message}`)));
        };
        process.on("SIGINT", () => stop("SIGINT"));
        process.on("SIGTERM", () => stop("SIGTERM"));
        // A node its cluster refused for good (another cluster's id) exits rather than idle unready.
        stopForFatal = (error) => {
          if (stopping) return;
          stopping = true;
          node.close().then(
            () => reject(new Error(`${error.message}; the node stopped`)),
            () => reject(error),
          );
        };
        if (fatal) stopForFatal(fatal);
      });
    });
}

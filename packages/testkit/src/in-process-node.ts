// A real node in the test's own process, on loopback with ephemeral ports and a silent
// logger. Use startNodeProcess instead when the test needs kill -9 or a separate process.

import { type RunningNode, startNode } from "@castle/broker";
import { silentLogger } from "@castle/common";

export type { RunningNode };

/** Flags for a loopback node with ephemeral ports in `dataDir`, plus `overrides`. */
export function loopbackNodeFlags(dataDir: string, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    "data.dir": dataDir,
    "client.port": "0",
    "http.port": "0",
    "controller.port": "0",
    "listener.host": "127.0.0.1",
    "advertised.host": "127.0.0.1",
    ...overrides,
  };
}

export function startInProcessNode(dataDir: string, overrides: Record<string, string> = {}): Promise<RunningNode> {
  return startNode({ flags: loopbackNodeFlags(dataDir, overrides) }, { logger: silentLogger });
}

export function bootstrapOf(node: RunningNode): string {
  return `127.0.0.1:${node.clientPort}`;
}

// Entry script of one Raft node as a real process, for process-level tests and benchmarks
// (spawned by raft-process-cluster.ts with child_process.fork). It starts a RaftNode with a
// RaftListStateMachine from its arguments, announces the bound port (an IPC "ready" message and
// one JSON line on stdout), then serves requests from the parent over IPC
// (raft-child-protocol.ts). SIGTERM, or the parent going away, closes the node cleanly;
// kill -9 is left to Raft to survive.
//
//   node raft-node-child.js --id 1 --data-dir DIR --port 0 \
//     --peers 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003 --voters 1,2,3 \
//     [--host 127.0.0.1] [--tick-ms 100] [--election-ticks 10] [--snapshot-every-entries 0]
//     [--request-timeout-ms 10000] [--log-level info|debug|warn|error|off]
//
// Each option may also come from the environment as CASTLE_RAFT_<NAME> (e.g. CASTLE_RAFT_TICK_MS).

import { parseArgs } from "node:util";
import { JsonLogger, type Logger, type LogLevel, silentLogger } from "@castle/common";
import { RaftNode, RaftNodeError } from "@castle/raft";
import { RaftListStateMachine } from "./list-state-machine.js";
import type { RaftChildErrorCode, RaftChildFailure, RaftChildMessage, RaftChildReply, RaftChildRequest } from "./raft-child-protocol.js";

const CLOSE_TIMEOUT_MS = 5_000;

const optionNames = [
  "id",
  "data-dir",
  "host",
  "port",
  "peers",
  "voters",
  "tick-ms",
  "election-ticks",
  "snapshot-every-entries",
  "request-timeout-ms",
  "log-level",
] as const;
type OptionName = (typeof optionNames)[number];

function readOptions(): Record<OptionName, string | undefined> {
  const { values } = parseArgs({
    options: Object.fromEntries(optionNames.map((name) => [name, { type: "string" }])) as Record<OptionName, { type: "string" }>,
    strict: true,
  });
  const read = (name: OptionName): string | undefined =>
    values[name] ?? process.env[`CASTLE_RAFT_${name.toUpperCase().replaceAll("-", "_")}`];
  return Object.fromEntries(optionNames.map((name) => [name, read(name)])) as Record<OptionName, string | undefined>;
}

function required(value: string | undefined, name: string): string {
  if (value === undefined || value === "") throw new Error(`--${name} is required`);
  return value;
}

function integer(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed)) throw new Error(`--${name} must be an integer, got ${value}`);
  return parsed;
}

/** "1=127.0.0.1:7001,2=127.0.0.1:7002" -> {1: "127.0.0.1:7001", 2: ...} */
function parsePeers(text: string): Record<number, string> {
  const peers: Record<number, string> = {};
  for (const pair of text.split(",")) {
    const [id, address] = pair.split("=");
    const nodeId = Number(id);
    if (!Number.isSafeInteger(nodeId) || nodeId <= 0 || !address) throw new Error(`--peers: malformed entry ${pair}`);
    peers[nodeId] = address;
  }
  return peers;
}

function makeLogger(level: string | undefined): Logger {
  if (level === "off") return silentLogger;
  const levels: readonly string[] = ["debug", "info", "warn", "error"];
  if (level !== undefined && !levels.includes(level)) throw new Error(`--log-level must be one of ${levels.join(", ")}, off`);
  return new JsonLogger((level ?? "info") as LogLevel);
}

function failure(error: unknown): RaftChildFailure {
  if (error instanceof RaftNodeError) {
    const leaderId = error.context["leaderId"];
    return { ok: false, code: error.code, message: error.message, leaderId: typeof leaderId === "number" ? leaderId : 0 };
  }
  const code: RaftChildErrorCode = "FAILED";
  return { ok: false, code, message: error instanceof Error ? error.message : String(error), leaderId: 0 };
}

function send(message: RaftChildMessage): void {
  if (process.connected) process.send?.(message);
}

async function main(): Promise<void> {
  const options = readOptions();
  const id = integer(required(options.id, "id"), "id") ?? 0;
  const host = options.host ?? "127.0.0.1";
  const machine = new RaftListStateMachine();
  const node = await RaftNode.start({
    id,
    dataDir: required(options["data-dir"], "data-dir"),
    listen: { host, port: integer(options.port, "port") ?? 0 },
    peers: parsePeers(required(options.peers, "peers")),
    voters: required(options.voters, "voters").split(",").map(Number),
    tickMs: integer(options["tick-ms"], "tick-ms"),
    electionTicks: integer(options["election-ticks"], "election-ticks"),
    snapshotEveryEntries: integer(options["snapshot-every-entries"], "snapshot-every-entries"),
    requestTimeoutMs: integer(options["request-timeout-ms"], "request-timeout-ms"),
    stateMachine: machine,
    logger: makeLogger(options["log-level"]),
  });

  let closing: Promise<void> | undefined;
  const closeAndExit = (reason: string): Promise<void> => {
    closing ??= (async () => {
      setTimeout(() => process.exit(1), CLOSE_TIMEOUT_MS).unref();
      await node.close();
      process.stdout.write(`${JSON.stringify({ msg: "raft node child exiting", nodeId: id, reason })}\n`);
      process.exit(0);
    })();
    return closing;
  };
  process.on("SIGTERM", () => void closeAndExit("SIGTERM"));
  process.on("SIGINT", () => void closeAndExit("SIGINT"));
  process.on("disconnect", () => void closeAndExit("parent disconnected"));

  const encoder = new TextEncoder();
  const handle = async (request: RaftChildRequest): Promise<RaftChildReply> => {
    const requestId = request.requestId;
    try {
      switch (request.op) {
        case "propose": {
          const { index, term } = await node.propose(encoder.encode(request.data));
          return { requestId, ok: true, index, term };
        }
        case "status":
          return { requestId, ok: true, status: node.status(), applied: machine.summary(request.withItems) };
        case "readIndex":
          await node.readIndex();
          return { requestId, ok: true };
      }
    } catch (error) {
      return { requestId, ...failure(error) };
    }
  };
  process.on("message", (request: RaftChildRequest) => {
    void handle(request).then((reply) => send({ type: "reply", ...reply }));
  });

  process.stdout.write(`${JSON.stringify({ msg: "raft node ready", nodeId: id, pid: process.pid, port: node.port })}\n`);
  send({ type: "ready", nodeId: id, pid: process.pid, port: node.port });
}

main().catch((error: unknown) => {
  process.stderr.write(`${JSON.stringify({ level: "error", msg: "raft node child failed to start", error: String(error) })}\n`);
  process.exit(2);
});

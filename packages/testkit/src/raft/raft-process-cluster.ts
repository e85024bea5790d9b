// Raft nodes as real processes on loopback, for process-level tests and benchmarks. Each node
// is raft-node-child.js (forked, IPC for requests); the cluster picks every node's port before
// the first start, so a node restarted after kill -9 or SIGTERM comes back at the same address
// on the same data dir. Every wait is bounded; only processes started here are signalled, by
// their own pid.

import { type ChildProcess, fork } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { RaftNodeId } from "@castle/raft";
import { followLines } from "../output-lines.js";
import { freePort, waitUntil } from "../wait.js";
import type {
  ProposeReply,
  RaftChildFailure,
  RaftChildMessage,
  RaftChildReady,
  RaftChildReply,
  RaftChildRequest,
  ReadIndexReply,
  StatusReply,
} from "./raft-child-protocol.js";

export const DEFAULT_START_TIMEOUT_MS = 20_000;
export const DEFAULT_REPLY_TIMEOUT_MS = 15_000;
export const DEFAULT_STOP_TIMEOUT_MS = 10_000;

export interface RaftProcessClusterOptions {
  /** How many voters (ids 1..n), or their ids. */
  readonly voters: number | readonly RaftNodeId[];
  /** Each node's data dir is `<baseDir>/node-<id>`. */
  readonly baseDir: string;
  readonly host?: string;
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly snapshotEveryEntries?: number;
  /** RaftNode's own propose/readIndex timeout. */
  readonly requestTimeoutMs?: number;
  /** How long a child may take to announce its bound port. */
  readonly startTimeoutMs?: number;
  /** How long the parent waits for any one reply before answering NO_REPLY itself. */
  readonly replyTimeoutMs?: number;
  /** After SIGTERM, SIGKILL follows after this long. */
  readonly stopTimeoutMs?: number;
  /** Node.js flags for the children (e.g. --cpu-prof); a function gets the node id. */
  readonly nodeArgs?: readonly string[] | ((id: RaftNodeId) => readonly string[]);
  /** The children's log level (their JSON logs go to stderr); "off" silences them. Default "warn". */
  readonly logLevel?: "debug" | "info" | "warn" | "error" | "off";
  /** Receives every stderr line of every child; by default lines are dropped (a tail is kept for errors). */
  readonly onLog?: (id: RaftNodeId, line: string) => void;
}

/** The compiled child entry script (packages/testkit/dist/raft/raft-node-child.js). */
export function raftNodeChildPath(): string {
  const path = fileURLToPath(new URL("./raft-node-child.js", import.meta.url));
  if (!existsSync(path)) throw new Error(`${path} is missing; run npm run build first`);
  return path;
}

interface PendingReply {
  readonly resolve: (reply: RaftChildReply) => void;
  readonly timer: NodeJS.Timeout;
}

type RequestBody = RaftChildRequest extends infer R ? (R extends RaftChildRequest ? Omit<R, "requestId"> : never) : never;

/** One running child. Replies never reject: failures come back as `{ok: false, code}`. */
export class RaftProcess {
  private readonly pending = new Map<number, PendingReply>();
  private nextRequestId = 1;
  private readonly exited: Promise<void>;
  private exitedNow = false;

  private constructor(
    readonly id: RaftNodeId,
    readonly pid: number,
    readonly port: number,
    readonly child: ChildProcess,
    private readonly replyTimeoutMs: number,
    private readonly stopTimeoutMs: number,
  ) {
    this.exited = new Promise((resolve) => {
      const done = (): void => {
        this.exitedNow = true;
        this.failPending(`node ${id} (pid ${pid}) exited`);
        resolve();
      };
      if (child.exitCode !== null || child.signalCode !== null) done();
      else child.once("exit", done);
    });
    child.on("message", (message: RaftChildMessage) => {
      if (message.type !== "reply") return;
      const waiting = this.pending.get(message.requestId);
      if (!waiting) return;
      this.pending.delete(message.requestId);
      clearTimeout(waiting.timer);
      const { type: _type, ...reply } = message;
      waiting.resolve(reply);
    });
  }

  /** Forks the child and waits (bounded) for its "ready" message. */
  static start(
    id: RaftNodeId,
    args: readonly string[],
    options: {
      nodeArgs: readonly string[];
      startTimeoutMs: number;
      replyTimeoutMs: number;
      stopTimeoutMs: number;
      onLog?: (line: string) => void;
    },
  ): Promise<RaftProcess> {
    const child = fork(raftNodeChildPath(), [...args], { execArgv: [...options.nodeArgs], stdio: ["ignore", "pipe", "pipe", "ipc"] });
    const tail = followLines(child.stderr, (line) => options.onLog?.(line));
    child.stdout?.resume();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`raft node ${id} did not start within ${options.startTimeoutMs} ms: ${tail.join("\n")}`));
      }, options.startTimeoutMs);
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        clearTimeout(timer);
        reject(new Error(`raft node ${id} exited (code ${code}, signal ${signal}) before it was ready: ${tail.join("\n")}`));
      };
      child.once("exit", onExit);
      const onReady = (message: RaftChildMessage): void => {
        if (message.type !== "ready") return;
        const ready: RaftChildReady = message;
        clearTimeout(timer);
        child.off("exit", onExit);
        child.off("message", onReady);
        resolve(new RaftProcess(id, ready.pid, ready.port, child, options.replyTimeoutMs, options.stopTimeoutMs));
      };
      child.on("message", onReady);
    });
  }

  get running(): boolean {
    return !this.exitedNow && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves when committed and applied on this node; `{ok:false}` with NOT_LEADER names the leader. */
  propose(data: string): Promise<ProposeReply> {
    return this.request({ op: "propose", data }) as Promise<ProposeReply>;
  }

  status(options: { withItems?: boolean } = {}): Promise<StatusReply> {
    return this.request({ op: "status", withItems: options.withItems ?? false }) as Promise<StatusReply>;
  }

  readIndex(): Promise<ReadIndexReply> {
    return this.request({ op: "readIndex" }) as Promise<ReadIndexReply>;
  }

  /** SIGKILL and wait for the exit. */
  async kill9(): Promise<void> {
    if (!this.running) return;
    this.child.kill("SIGKILL");
    await this.exited;
  }

  /** SIGTERM (the child closes its RaftNode) and wait; SIGKILL after the stop timeout. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.child.kill("SIGTERM");
    const killer = setTimeout(() => this.child.kill("SIGKILL"), this.stopTimeoutMs);
    await this.exited;
    clearTimeout(killer);
  }

  private request(body: RequestBody): Promise<RaftChildReply> {
    const requestId = this.nextRequestId++;
    if (!this.running) return Promise.resolve({ requestId, ...unavailable(`node ${this.id} is not running`) });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        resolve({
          requestId,
          ok: false,
          code: "NO_REPLY",
          message: `node ${this.id}: no reply within ${this.replyTimeoutMs} ms`,
          leaderId: 0,
        });
      }, this.replyTimeoutMs);
      this.pending.set(requestId, { resolve, timer });
      const request = { requestId, ...body } as RaftChildRequest;
      this.child.send(request, (error) => {
        if (!error) return;
        const waiting = this.pending.get(requestId);
        if (!waiting) return;
        this.pending.delete(requestId);
        clearTimeout(waiting.timer);
        resolve({ requestId, ...unavailable(`node ${this.id}: ${error.message}`) });
      });
    });
  }

  private failPending(message: string): void {
    for (const [requestId, waiting] of this.pending) {
      clearTimeout(waiting.timer);
      waiting.resolve({ requestId, ...unavailable(message) });
    }
    this.pending.clear();
  }
}

function unavailable(message: string): RaftChildFailure {
  return { ok: false, code: "UNAVAILABLE", message, leaderId: 0 };
}

/** A cluster of Raft node processes; ids and ports are fixed at spawn time. */
export class RaftProcessCluster {
  private readonly processes = new Map<RaftNodeId, RaftProcess>();

  private constructor(
    readonly ids: readonly RaftNodeId[],
    /** Node id -> "host:port", the same across restarts. */
    readonly peers: Readonly<Record<number, string>>,
    private readonly options: RaftProcessClusterOptions,
  ) {}

  /** Picks a free port per node, then starts every node (in parallel) and waits until each is bound. */
  static async spawn(options: RaftProcessClusterOptions): Promise<RaftProcessCluster> {
    const ids = typeof options.voters === "number" ? Array.from({ length: options.voters }, (_, i) => i + 1) : [...options.voters];
    const host = options.host ?? "127.0.0.1";
    const peers: Record<number, string> = {};
    for (const id of ids) peers[id] = `${host}:${await freePort(host)}`;
    const cluster = new RaftProcessCluster(ids, peers, options);
    try {
      await cluster.startAll();
    } catch (error) {
      await cluster.stopAll();
      throw error;
    }
    return cluster;
  }

  dataDir(id: RaftNodeId): string {
    return join(this.options.baseDir, `node-${id}`);
  }

  /** The running process of a node, if any. */
  node(id: RaftNodeId): RaftProcess | undefined {
    const process = this.processes.get(id);
    return process?.running ? process : undefined;
  }

  /** The nodes currently running. */
  runningIds(): RaftNodeId[] {
    return this.ids.filter((id) => this.node(id) !== undefined);
  }

  propose(id: RaftNodeId, data: string): Promise<ProposeReply> {
    return this.node(id)?.propose(data) ?? Promise.resolve(unavailable(`node ${id} is not running`));
  }

  status(id: RaftNodeId, options: { withItems?: boolean } = {}): Promise<StatusReply> {
    return this.node(id)?.status(options) ?? Promise.resolve(unavailable(`node ${id} is not running`));
  }

  readIndex(id: RaftNodeId): Promise<ReadIndexReply> {
    return this.node(id)?.readIndex() ?? Promise.resolve(unavailable(`node ${id} is not running`));
  }

  /** Starts a node that is not running, on its data dir and port. */
  async start(id: RaftNodeId): Promise<RaftProcess> {
    const existing = this.node(id);
    if (existing) return existing;
    const address = this.peers[id];
    if (address === undefined) throw new Error(`node ${id} is not a member of this cluster`);
    const port = address.slice(address.lastIndexOf(":") + 1);
    const o = this.options;
    const args = [
      "--id",
      String(id),
      "--data-dir",
      this.dataDir(id),
      "--host",
      o.host ?? "127.0.0.1",
      "--port",
      port,
      "--peers",
      Object.entries(this.peers)
        .map(([peer, at]) => `${peer}=${at}`)
        .join(","),
      "--voters",
      this.ids.join(","),
      "--log-level",
      o.logLevel ?? "warn",
    ];
    const optional: Array<[string, number | undefined]> = [
      ["--tick-ms", o.tickMs],
      ["--election-ticks", o.electionTicks],
      ["--snapshot-every-entries", o.snapshotEveryEntries],
      ["--request-timeout-ms", o.requestTimeoutMs],
    ];
    for (const [flag, value] of optional) if (value !== undefined) args.push(flag, String(value));
    const nodeArgs = typeof o.nodeArgs === "function" ? o.nodeArgs(id) : (o.nodeArgs ?? []);
    const onLog = o.onLog;
    const started = await RaftProcess.start(id, args, {
      nodeArgs,
      startTimeoutMs: o.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS,
      replyTimeoutMs: o.replyTimeoutMs ?? DEFAULT_REPLY_TIMEOUT_MS,
      stopTimeoutMs: o.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS,
      ...(onLog ? { onLog: (line: string) => onLog(id, line) } : {}),
    });
    this.processes.set(id, started);
    return started;
  }

  async startAll(): Promise<void> {
    const results = await Promise.allSettled(this.ids.map((id) => this.start(id)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  }

  /** kill -9 by pid, and wait for the exit. */
  async kill9(id: RaftNodeId): Promise<void> {
    await this.processes.get(id)?.kill9();
  }

  /** SIGTERM (clean close), SIGKILL after the stop timeout. */
  async stop(id: RaftNodeId): Promise<void> {
    await this.processes.get(id)?.stop();
  }

  /** Stops the node if it runs (SIGTERM), then starts it again on the same data dir and port. */
  async restart(id: RaftNodeId): Promise<RaftProcess> {
    await this.stop(id);
    return this.start(id);
  }

  /** Stops every node this cluster started (SIGTERM, in parallel). */
  async stopAll(): Promise<void> {
    await Promise.all([...this.processes.values()].map((p) => p.stop()));
  }

  /** Stops every node, then starts every node. */
  async restartAll(): Promise<void> {
    await this.stopAll();
    await this.startAll();
  }

  /**
   * Waits until every running node names the same leader, in the same term, and that node
   * says it leads. `exclude`: a node that must not be the answer (e.g. a killed leader).
   */
  waitForLeader(options: { timeoutMs?: number; exclude?: RaftNodeId } = {}): Promise<{ id: RaftNodeId; term: number }> {
    return waitUntil(
      async () => {
        const running = this.runningIds();
        if (running.length === 0) return undefined;
        const replies = await Promise.all(running.map((id) => this.status(id)));
        const statuses = replies.flatMap((r) => (r.ok ? [r.status] : []));
        if (statuses.length !== running.length) return undefined;
        const first = statuses[0];
        if (!first || first.leaderId === 0 || first.leaderId === options.exclude) return undefined;
        const agreed = statuses.every((s) => s.leaderId === first.leaderId && s.term === first.term);
        const leader = statuses.find((s) => s.nodeId === first.leaderId);
        return agreed && leader?.role === "leader" ? { id: first.leaderId, term: first.term } : undefined;
      },
      "one leader every running node agrees on",
      options.timeoutMs ?? 10_000,
    );
  }
}

/** `RaftProcessCluster.spawn`, by its other name. */
export function spawnRaftCluster(options: RaftProcessClusterOptions): Promise<RaftProcessCluster> {
  return RaftProcessCluster.spawn(options);
}

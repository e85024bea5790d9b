// Starts a real Castle node as a child process (`castle server start`), waits until it has
// bound its ports (it logs "node started" with them), and stops it by its own pid only.
// Starting again with the same options (fixed ports in `overrides`) brings the node back at
// the same addresses on the same data dir.

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { loopbackNodeFlags } from "./in-process-node.js";
import { followLines } from "./output-lines.js";

export interface NodeProcessOptions {
  dataDir: string;
  /** Extra config keys, passed as --override key=value. */
  overrides?: Record<string, string>;
  nodeArgs?: string[];
  startTimeoutMs?: number;
  /** Receives every stderr line (JSON logs); defaults to dropping them. */
  onLog?: (line: string) => void;
  /** Called with the child right after the spawn, before "node started" (to kill it early if need be). */
  onSpawn?: (child: ChildProcess) => void;
}

export interface NodeProcess {
  readonly pid: number;
  /** -1 for a node without the broker role (no client listener). */
  readonly clientPort: number;
  readonly httpPort: number;
  /** `127.0.0.1:clientPort`, or "" when the node has no client listener. */
  readonly bootstrap: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code (null after a signal) once the process has exited. */
  readonly exited: Promise<number | null>;
  /** False once the process has exited, for whatever reason. */
  readonly running: boolean;
  /** The last stderr lines (at most OUTPUT_TAIL_LINES_MAX), for error messages. */
  recentLines(): string[];
  /** SIGTERM and wait for exit (SIGKILL after killAfterMs). */
  stop(killAfterMs?: number): Promise<number | null>;
  kill(): Promise<void>;
}

export function castleCliPath(): string {
  const path = fileURLToPath(new URL("../../cli/dist/main.js", import.meta.url));
  if (!existsSync(path)) throw new Error(`${path} is missing; run npm run build first`);
  return path;
}

/**
 * The node flags the `castle` executable's shebang line carries (`#!/usr/bin/env -S node
 * FLAGS`): a node started here runs as `castle server start` would.
 */
export function castleNodeFlags(): string[] {
  const first = readFileSync(castleCliPath(), "utf8").split("\n", 1)[0] ?? "";
  const match = /^#!\S*env -S node((?: \S+)*)\s*$/.exec(first);
  return match?.[1] ? match[1].trim().split(/\s+/) : [];
}

export function startNodeProcess(options: NodeProcessOptions): Promise<NodeProcess> {
  const level = options.overrides?.["log.level"];
  if (level === "warn" || level === "error") {
    return Promise.reject(new Error(`log.level=${level} hides the "node started" line this harness waits for; use info or debug`));
  }
  // The same loopback flags as an in-process node; data.dir goes as --data-dir with the rest as overrides.
  const { "data.dir": dataDir, ...overrides } = loopbackNodeFlags(options.dataDir, options.overrides);
  const args = [
    ...castleNodeFlags(),
    ...(options.nodeArgs ?? []),
    castleCliPath(),
    "server",
    "start",
    "--data-dir",
    dataDir ?? options.dataDir,
  ];
  for (const [key, value] of Object.entries(overrides)) args.push("--override", `${key}=${value}`);
  const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  options.onSpawn?.(child);
  return new Promise((resolve, reject) => {
    // On timeout the child is killed and the rejection waits for its exit, so its ports and
    // data dir are free by the time the caller hears of the failure.
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
      const error = new Error(`node did not start within ${options.startTimeoutMs ?? 20000} ms; last output: ${tail.join("\n")}`);
      void exited.then(() => reject(error));
    }, options.startTimeoutMs ?? 20000);
    let started = false;
    const tail = followLines(child.stderr, (line) => {
      options.onLog?.(line);
      if (started || !line.includes('"node started"')) return;
      started = true;
      clearTimeout(timer);
      const entry = JSON.parse(line) as { clientPort: number; httpPort: number };
      const hasExited = (): boolean => child.exitCode !== null || child.signalCode !== null;
      const stop = async (killAfterMs = 10000): Promise<number | null> => {
        if (hasExited()) return child.exitCode;
        child.kill("SIGTERM");
        const killer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
        const code = await exited;
        clearTimeout(killer);
        return code;
      };
      const kill = async (): Promise<void> => {
        if (hasExited()) return;
        child.kill("SIGKILL");
        await exited;
      };
      resolve({
        pid: child.pid as number,
        clientPort: entry.clientPort,
        httpPort: entry.httpPort,
        bootstrap: entry.clientPort >= 0 ? `127.0.0.1:${entry.clientPort}` : "",
        child,
        exited,
        get running() {
          return !hasExited();
        },
        recentLines: () => [...tail],
        stop,
        kill,
      });
    });
    child.once("exit", (code) => {
      if (started || timedOut) return;
      clearTimeout(timer);
      reject(new Error(`node exited with code ${code} before starting: ${tail.join("\n")}`));
    });
  });
}

// Starts a real Castle node as a child process (`castle server start`), waits until it has
// bound its ports (it logs "node started" with them), and stops it by its own pid only.

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
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
}

export interface NodeProcess {
  readonly pid: number;
  readonly clientPort: number;
  readonly httpPort: number;
  readonly bootstrap: string;
  readonly child: ChildProcess;
  /** SIGTERM and wait for exit (SIGKILL after killAfterMs). */
  stop(killAfterMs?: number): Promise<number | null>;
  kill(): Promise<void>;
}

export function castleCliPath(): string {
  const path = fileURLToPath(new URL("../../cli/dist/main.js", import.meta.url));
  if (!existsSync(path)) throw new Error(`${path} is missing; run npm run build first`);
  return path;
}

export function startNodeProcess(options: NodeProcessOptions): Promise<NodeProcess> {
  const level = options.overrides?.["log.level"];
  if (level === "warn" || level === "error") {
    return Promise.reject(new Error(`log.level=${level} hides the "node started" line this harness waits for; use info or debug`));
  }
  // The same loopback flags as an in-process node; data.dir goes as --data-dir with the rest as overrides.
  const { "data.dir": dataDir, ...overrides } = loopbackNodeFlags(options.dataDir, options.overrides);
  const args = [...(options.nodeArgs ?? []), castleCliPath(), "server", "start", "--data-dir", dataDir ?? options.dataDir];
  for (const [key, value] of Object.entries(overrides)) args.push("--override", `${key}=${value}`);
  const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`node did not start within ${options.startTimeoutMs ?? 20000} ms; last output: ${tail.join("\n")}`));
    }, options.startTimeoutMs ?? 20000);
    let started = false;
    const tail = followLines(child.stderr, (line) => {
      options.onLog?.(line);
      if (started || !line.includes('"node started"')) return;
      started = true;
      clearTimeout(timer);
      const entry = JSON.parse(line) as { clientPort: number; httpPort: number };
      const stop = async (killAfterMs = 10000): Promise<number | null> => {
        if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
        child.kill("SIGTERM");
        const killer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
        const code = await exited;
        clearTimeout(killer);
        return code;
      };
      const kill = async (): Promise<void> => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill("SIGKILL");
        await exited;
      };
      resolve({
        pid: child.pid as number,
        clientPort: entry.clientPort,
        httpPort: entry.httpPort,
        bootstrap: `127.0.0.1:${entry.clientPort}`,
        child,
        stop,
        kill,
      });
    });
    child.once("exit", (code) => {
      if (started) return;
      clearTimeout(timer);
      reject(new Error(`node exited with code ${code} before starting: ${tail.join("\n")}`));
    });
  });
}

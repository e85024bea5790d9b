// Runs the built `castle` CLI as a child process (asynchronously, so an in-process node in the
// same test keeps serving), capturing its output: one place for every test that runs the CLI.

import { type ChildProcess, spawn } from "node:child_process";
import { castleCliPath, castleNodeFlags } from "./node-process.js";

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Written to the CLI's stdin, which is then closed (default: nothing). */
  stdin?: string;
  /** Added to this process's environment (e.g. CASTLE_BOOTSTRAP). */
  env?: Record<string, string>;
  /** SIGKILL after this long (default 60 s), so a hung CLI cannot hang the test. */
  timeoutMs?: number;
}

export interface RunningCli {
  readonly child: ChildProcess;
  /** What it has printed so far. */
  output(): { stdout: string; stderr: string };
  /** Resolves when it exits, with everything it printed. */
  readonly done: Promise<CliResult>;
}

const CLI_TIMEOUT_MS_DEFAULT = 60_000;

/** Starts `castle ARGS`; the caller may signal it (child.kill("SIGINT")) before it ends. */
export function startCastleCli(args: readonly string[], options: CliOptions = {}): RunningCli {
  // With the executable's own node flags, as `castle ARGS` from a shell runs it.
  const child = spawn(process.execPath, [...castleNodeFlags(), castleCliPath(), ...args], {
    env: { ...process.env, ...options.env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? CLI_TIMEOUT_MS_DEFAULT);
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  child.stdin?.end(options.stdin ?? "");
  return { child, output: () => ({ stdout, stderr }), done };
}

/** Runs `castle ARGS` to its end. */
export function runCastleCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return startCastleCli(args, options).done;
}

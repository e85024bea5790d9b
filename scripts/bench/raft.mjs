#!/usr/bin/env node
// npm run bench:raft [-- --sequential N --pipelined N --window W --runs R --json --profile --no-etcd]
// Three Raft voters as real processes on loopback (@castle/testkit's spawnRaftCluster), 100-byte
// proposals sent to the leader over its IPC channel: (a) sequential, one proposal at a time:
// commit latency p50/p99/max and proposals/s; (b) pipelined, W in flight: entries/s. A proposal
// counts once it is committed and applied on the leader. If `etcd` is on PATH, a 3-member etcd
// cluster on loopback runs the same workloads through its v3 HTTP/JSON gateway (POST
// /v3/kv/put, keep-alive) and the Castle/etcd ratios are printed. Each run starts fresh
// clusters; the figures are the median over runs. --profile writes CPU profiles of the Castle
// nodes and prints where the leader's time went.

import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, spawnRaftCluster, waitUntil } from "@castle/testkit";
import { parseScriptArgs } from "../script-args.mjs";

const { values: args } = parseScriptArgs(import.meta.url, {
  sequential: { type: "string", default: "2000" },
  pipelined: { type: "string", default: "40000" },
  window: { type: "string", default: "256" },
  "payload-bytes": { type: "string", default: "100" },
  warmup: { type: "string", default: "300" },
  runs: { type: "string", default: "3" },
  "tick-ms": { type: "string", default: "100" },
  "election-ticks": { type: "string", default: "10" },
  "snapshot-every-entries": { type: "string", default: "100000" },
  profile: { type: "boolean", default: false },
  "no-etcd": { type: "boolean", default: false },
  json: { type: "boolean", default: false },
});

const SEQUENTIAL = Number(args.sequential);
const PIPELINED = Number(args.pipelined);
const WINDOW = Number(args.window);
const PAYLOAD_BYTES = Number(args["payload-bytes"]);
const WARMUP = Number(args.warmup);
const RUNS = Number(args.runs);
const START_TIMEOUT_MS = 20_000;
const PHASE_TIMEOUT_MS = 120_000;

const log = (line) => {
  if (!args.json) process.stderr.write(`${line}\n`);
};
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};
const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const payload = (i) => `${i}:`.padEnd(PAYLOAD_BYTES, "x");

/**
 * Runs both workloads against `propose(i) -> Promise<boolean>`, bounded in time. Sequential:
 * per-proposal latency; pipelined: `WINDOW` proposals in flight, entries/s.
 */
async function workloads(propose) {
  for (let i = 0; i < WARMUP; i++) if (!(await propose(i))) throw new Error(`warm-up proposal ${i} failed`);
  let next = WARMUP;
  const latencies = [];
  const sequentialStart = performance.now();
  for (let i = 0; i < SEQUENTIAL; i++) {
    const started = performance.now();
    if (!(await propose(next++))) throw new Error("sequential proposal failed");
    latencies.push(performance.now() - started);
    if (performance.now() - sequentialStart > PHASE_TIMEOUT_MS) throw new Error("sequential phase timed out");
  }
  const sequentialSeconds = (performance.now() - sequentialStart) / 1000;
  latencies.sort((a, b) => a - b);

  const pipelinedLatencies = [];
  let sent = 0;
  let failed = 0;
  const pipelinedStart = performance.now();
  const lane = async () => {
    while (sent < PIPELINED && performance.now() - pipelinedStart < PHASE_TIMEOUT_MS) {
      sent++;
      const started = performance.now();
      if (await propose(next++)) pipelinedLatencies.push(performance.now() - started);
      else failed++;
    }
  };
  await Promise.all(Array.from({ length: WINDOW }, lane));
  const pipelinedSeconds = (performance.now() - pipelinedStart) / 1000;
  pipelinedLatencies.sort((a, b) => a - b);
  if (failed > 0) throw new Error(`${failed} pipelined proposals failed`);
  return {
    sequential: {
      count: SEQUENTIAL,
      perSecond: SEQUENTIAL / sequentialSeconds,
      p50Ms: quantile(latencies, 0.5),
      p99Ms: quantile(latencies, 0.99),
      maxMs: latencies.at(-1),
    },
    pipelined: {
      count: pipelinedLatencies.length,
      window: WINDOW,
      perSecond: pipelinedLatencies.length / pipelinedSeconds,
      p50Ms: quantile(pipelinedLatencies, 0.5),
      p99Ms: quantile(pipelinedLatencies, 0.99),
    },
  };
}

// ---- Castle ----

async function runCastle(run) {
  const baseDir = mkdtempSync(join(tmpdir(), "castle-bench-raft-"));
  // Profiles outlive the run (the data dirs do not).
  const profileDir = join(tmpdir(), `castle-bench-raft-profiles-${process.pid}`);
  if (args.profile) mkdirSync(profileDir, { recursive: true });
  const cluster = await spawnRaftCluster({
    voters: 3,
    baseDir,
    tickMs: Number(args["tick-ms"]),
    electionTicks: Number(args["election-ticks"]),
    snapshotEveryEntries: Number(args["snapshot-every-entries"]),
    requestTimeoutMs: 30_000,
    replyTimeoutMs: 60_000,
    startTimeoutMs: START_TIMEOUT_MS,
    nodeArgs: args.profile ? ["--cpu-prof", "--cpu-prof-dir", profileDir] : [],
  });
  try {
    const leader = await cluster.waitForLeader({ timeoutMs: START_TIMEOUT_MS });
    const node = cluster.node(leader.id);
    if (!node) throw new Error("the leader is not running");
    log(`  castle run ${run}: leader is node ${leader.id} (pid ${node.pid})`);
    let lastFailure;
    const result = await workloads(async (i) => {
      const reply = await node.propose(payload(i));
      if (!reply.ok) lastFailure = reply;
      return reply.ok;
    }).catch((error) => {
      throw new Error(`${error.message}; last failure: ${JSON.stringify(lastFailure)}`);
    });
    const status = await node.status();
    if (!status.ok || status.status.leaderId !== leader.id) throw new Error("leadership changed during the run");
    await cluster.stopAll();
    if (args.profile) result.profile = summariseProfile(profileDir, node.pid);
    return result;
  } finally {
    await cluster.stopAll();
    rmSync(baseDir, { recursive: true, force: true });
  }
}

/** Self time by function in the leader's CPU profile: the top 25, and the share of idle time. */
function summariseProfile(dir, pid) {
  const file = readdirSync(dir).find((name) => name.includes(`.${pid}.`));
  if (!file) return undefined;
  const profile = JSON.parse(readFileSync(join(dir, file), "utf8"));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]);
    const frame = node.callFrame;
    const where = frame.url ? `${frame.url.replace(/^.*\/(node_modules|packages)\//, "$1/")}:${frame.lineNumber + 1}` : "";
    const key = `${frame.functionName || "(anonymous)"} ${where}`.trim();
    selfUs.set(key, (selfUs.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const top = [...selfUs.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 25)
    .map(([fn, us]) => ({ fn, ms: Math.round(us / 1000), percent: Math.round((1000 * us) / total) / 10 }));
  return { file: join(dir, file), totalMs: Math.round(total / 1000), top };
}

// ---- etcd ----

function hasEtcd() {
  return spawnSync("etcd", ["--version"], { stdio: "ignore" }).status === 0;
}

async function startEtcd() {
  const baseDir = mkdtempSync(join(tmpdir(), "etcd-bench-"));
  const members = [];
  for (let i = 1; i <= 3; i++) members.push({ name: `m${i}`, client: await freePort(), peer: await freePort() });
  const initialCluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(",");
  const children = members.map((m) => {
    const child = spawn(
      "etcd",
      [
        `--name=${m.name}`,
        `--data-dir=${join(baseDir, m.name)}`,
        `--listen-client-urls=http://127.0.0.1:${m.client}`,
        `--advertise-client-urls=http://127.0.0.1:${m.client}`,
        `--listen-peer-urls=http://127.0.0.1:${m.peer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${m.peer}`,
        `--initial-cluster=${initialCluster}`,
        "--initial-cluster-token=castle-bench",
        "--initial-cluster-state=new",
        "--logger=zap",
        "--log-outputs=stderr",
        "--log-level=error",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    child.stderr.resume();
    return child;
  });
  const stop = async () => {
    await Promise.all(
      children.map(
        (child) =>
          new Promise((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
            child.once("exit", () => {
              clearTimeout(killer);
              resolve();
            });
            child.kill("SIGTERM");
          }),
      ),
    );
    rmSync(baseDir, { recursive: true, force: true });
  };
  try {
    const statusAgent = new http.Agent({ keepAlive: false });
    const leaderPort = await waitUntil(
      async () => {
        const statuses = await Promise.all(
          members.map((m) => postJson(statusAgent, m.client, "/v3/maintenance/status", {}).catch(() => undefined)),
        );
        const leaderIds = new Set(statuses.map((s) => s?.leader));
        if (statuses.some((s) => !s) || leaderIds.size !== 1) return undefined;
        const index = statuses.findIndex((s) => s.header.member_id === s.leader);
        return index >= 0 ? members[index].client : undefined;
      },
      "an etcd leader",
      START_TIMEOUT_MS,
      100,
    );
    return { leaderPort, pids: children.map((c) => c.pid), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

function postJson(agent, port, path, body) {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(text) },
      },
      (response) => {
        const chunks = [];
        response.on("data", (chunk) => chunks.push(chunk));
        response.on("end", () => {
          const reply = Buffer.concat(chunks).toString("utf8");
          if (response.statusCode !== 200) reject(new Error(`${path}: HTTP ${response.statusCode} ${reply}`));
          else resolve(JSON.parse(reply));
        });
        response.on("error", reject);
      },
    );
    request.setTimeout(30_000, () => request.destroy(new Error(`${path}: timed out`)));
    request.on("error", reject);
    request.end(text);
  });
}

async function runEtcd(run) {
  const etcd = await startEtcd();
  const agent = new http.Agent({ keepAlive: true, maxSockets: WINDOW });
  try {
    log(`  etcd run ${run}: leader serves clients on port ${etcd.leaderPort} (pids ${etcd.pids.join(", ")})`);
    return await workloads(async (i) => {
      const key = Buffer.from(`bench/${i}`).toString("base64");
      const value = Buffer.from(payload(i)).toString("base64");
      await postJson(agent, etcd.leaderPort, "/v3/kv/put", { key, value });
      return true;
    });
  } finally {
    agent.destroy();
    await etcd.stop();
  }
}

// ---- main ----

function summarise(results) {
  if (results.length === 0) return undefined;
  const pick = (path) => median(results.map((r) => path(r)));
  return {
    runs: results.length,
    sequential: {
      perSecond: pick((r) => r.sequential.perSecond),
      p50Ms: pick((r) => r.sequential.p50Ms),
      p99Ms: pick((r) => r.sequential.p99Ms),
      maxMs: pick((r) => r.sequential.maxMs),
    },
    pipelined: {
      perSecond: pick((r) => r.pipelined.perSecond),
      p50Ms: pick((r) => r.pipelined.p50Ms),
      p99Ms: pick((r) => r.pipelined.p99Ms),
    },
  };
}

const withEtcd = !args["no-etcd"] && hasEtcd();
if (!args["no-etcd"] && !withEtcd) log("etcd is not on PATH (apt-get install -y etcd-server etcd-client); Castle only");
const castleRuns = [];
const etcdRuns = [];
for (let run = 1; run <= RUNS; run++) {
  castleRuns.push(await runCastle(run));
  if (withEtcd) etcdRuns.push(await runEtcd(run));
}
const castle = summarise(castleRuns);
const etcd = summarise(etcdRuns);
const ratios = etcd
  ? {
      pipelinedThroughput: castle.pipelined.perSecond / etcd.pipelined.perSecond,
      sequentialThroughput: castle.sequential.perSecond / etcd.sequential.perSecond,
      sequentialP99: castle.sequential.p99Ms / etcd.sequential.p99Ms,
    }
  : undefined;
const config = {
  sequential: SEQUENTIAL,
  pipelined: PIPELINED,
  window: WINDOW,
  payloadBytes: PAYLOAD_BYTES,
  runs: RUNS,
  tickMs: Number(args["tick-ms"]),
};

if (args.json) {
  process.stdout.write(`${JSON.stringify({ config, castle, etcd, ratios, castleRuns, etcdRuns }, null, 2)}\n`);
} else {
  const f = (n, digits = 0) =>
    n === undefined ? "-" : n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
  const rows = [
    ["", "Castle Raft", "etcd 3.x", "Castle/etcd"],
    ["sequential proposals/s", f(castle.sequential.perSecond), f(etcd?.sequential.perSecond), f(ratios?.sequentialThroughput, 2)],
    ["sequential p50 ms", f(castle.sequential.p50Ms, 2), f(etcd?.sequential.p50Ms, 2), ""],
    ["sequential p99 ms", f(castle.sequential.p99Ms, 2), f(etcd?.sequential.p99Ms, 2), f(ratios?.sequentialP99, 2)],
    ["sequential max ms", f(castle.sequential.maxMs, 2), f(etcd?.sequential.maxMs, 2), ""],
    [
      `pipelined (${WINDOW} in flight) entries/s`,
      f(castle.pipelined.perSecond),
      f(etcd?.pipelined.perSecond),
      f(ratios?.pipelinedThroughput, 2),
    ],
    ["pipelined p50 ms", f(castle.pipelined.p50Ms, 2), f(etcd?.pipelined.p50Ms, 2), ""],
    ["pipelined p99 ms", f(castle.pipelined.p99Ms, 2), f(etcd?.pipelined.p99Ms, 2), ""],
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  console.log(
    `3 voters on loopback, ${PAYLOAD_BYTES}-byte proposals, ${SEQUENTIAL} sequential + ${PIPELINED} pipelined, median of ${RUNS} run(s)`,
  );
  for (const row of rows) console.log(row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  "));
  if (args.profile) {
    for (const [i, r] of castleRuns.entries()) {
      if (!r.profile) continue;
      console.log(`\nleader CPU profile, run ${i + 1} (${r.profile.totalMs} ms sampled; ${r.profile.file}):`);
      for (const t of r.profile.top) console.log(`  ${String(t.percent).padStart(5)}%  ${String(t.ms).padStart(6)} ms  ${t.fn}`);
    }
  }
}

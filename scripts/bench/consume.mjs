#!/usr/bin/env node
// npm run bench:consume [-- --records N --record-bytes B --partitions P --timeout-seconds S --json]
// Consumer-group throughput and rebalance time (issue 6), on three combined (broker,controller)
// nodes as real processes on loopback (@castle/testkit's startCastleCluster, from
// packages/testkit/dist):
//  (a) fill: one topic of --partitions (6) partitions, RF 3, min.insync.replicas 2, filled with
//      --records (200,000) records of --record-bytes (1 KiB) by one Producer with acks=all;
//  (b) drain: a new group of 1, then 2, then 3 consumers (each this file in --worker mode, one
//      @castle/client Consumer with groupId and subscribe()) reads the whole topic from the
//      beginning; records/s and MB/s count from the first record any member received to the
//      last, and the time from start to the group's first assignment is shown apart;
//  (c) rebalance: a group of 2 is stable and consuming; a 3rd member joins, later one leaves
//      (close(), which sends LeaveGroup): the time until every partition is assigned again among
//      the members left, and how long the longest-held partition could not be read (the
//      revoked-to-assigned gap), for the eager "range" assignor and the cooperative one.
// Progress goes to stderr, figures to stdout, then one JSON summary line (--json: only that).
// Every wait is bounded; every process started here is stopped by its pid and the temp dirs
// removed, on success, failure and SIGINT/SIGTERM.

import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseScriptArgs } from "../script-args.mjs";

const { values: args } = parseScriptArgs(import.meta.url, {
  records: { type: "string", default: "200000" },
  "record-bytes": { type: "string", default: "1024" },
  partitions: { type: "string", default: "6" },
  "timeout-seconds": { type: "string", default: "300" },
  json: { type: "boolean", default: false },
  worker: { type: "boolean", default: false },
});

const MiB = 1024 * 1024;
const TOPIC = "bench-consume";
const START_TIMEOUT_MS = 60_000;
const READY_TIMEOUT_MS = 60_000;
const WORKER_READY_TIMEOUT_MS = 30_000;
const ASSIGN_TIMEOUT_MS = 60_000;
const PROGRESS_INTERVAL_MS = 250;
const SESSION_TIMEOUT_MS = 10_000;
const HEARTBEAT_INTERVAL_MS = 1_000;

function positiveInteger(name, value) {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name}=${value} is not a positive integer`);
  return n;
}

const log = (line) => {
  if (!args.json) process.stderr.write(`${line}\n`);
};
const out = (line) => {
  if (!args.json) process.stdout.write(`${line}\n`);
};
const f = (n, digits = 0) =>
  n === undefined ? "-" : n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(probe, what, timeoutMs, intervalMs = 50) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

// ---- the worker: one group consumer --------------------------------------------------------

async function runWorker() {
  const { Consumer } = await import("@castle/client");
  let consumer;
  let stopping = false;
  let count = 0;
  let bytes = 0;
  let firstAt;
  let lastAt;
  const send = (message) => process.send?.(message);
  process.on("message", async (message) => {
    if (message.type === "start") {
      consumer = new Consumer({
        bootstrap: message.bootstrap,
        groupId: message.groupId,
        clientId: message.clientId,
        autoOffsetReset: "earliest",
        partitionAssignmentStrategy: [message.assignor],
        sessionTimeoutMs: SESSION_TIMEOUT_MS,
        heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
        maxPollRecords: 5000,
      });
      consumer.subscribe([message.topic], {
        onPartitionsAssigned: (tps) => send({ type: "assigned", at: Date.now(), partitions: tps.map((tp) => tp.partition) }),
        onPartitionsRevoked: (tps) => send({ type: "revoked", at: Date.now(), partitions: tps.map((tp) => tp.partition) }),
        onPartitionsLost: (tps) => send({ type: "lost", at: Date.now(), partitions: tps.map((tp) => tp.partition) }),
      });
      const progress = setInterval(() => send({ type: "progress", count, bytes, firstAt, lastAt }), PROGRESS_INTERVAL_MS);
      try {
        while (!stopping) {
          const records = await consumer.poll(200);
          if (records.length === 0) continue;
          const now = Date.now();
          firstAt ??= now;
          lastAt = now;
          count += records.length;
          for (const r of records) bytes += r.value?.length ?? 0;
        }
      } catch (error) {
        send({ type: "error", message: error.message });
      } finally {
        clearInterval(progress);
      }
      send({ type: "progress", count, bytes, firstAt, lastAt });
    } else if (message.type === "stop") {
      stopping = true;
      const at = Date.now();
      await consumer?.close({ timeoutMs: 10_000 });
      send({ type: "closed", at, closedMs: Date.now() - at });
      process.exit(0);
    }
  });
  send({ type: "ready" });
}

// ---- the parent ----------------------------------------------------------------------------

class Worker {
  constructor(name) {
    this.name = name;
    this.events = [];
    this.progress = { count: 0, bytes: 0 };
    this.assigned = new Set();
    this.child = fork(fileURLToPath(import.meta.url), ["--worker"], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    this.exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.on("message", (message) => {
      if (message.type === "progress") this.progress = message;
      else if (message.type === "error") this.error = message.message;
      else {
        this.events.push(message);
        if (message.type === "assigned") for (const p of message.partitions) this.assigned.add(p);
        if (message.type === "revoked" || message.type === "lost") for (const p of message.partitions) this.assigned.delete(p);
      }
    });
  }
  async ready() {
    await waitFor(() => this.events.some((e) => e.type === "ready"), `${this.name} to start`, WORKER_READY_TIMEOUT_MS);
  }
  start(config) {
    this.child.send({ type: "start", clientId: this.name, ...config });
  }
  async stop() {
    if (this.child.exitCode !== null) return undefined;
    this.child.send({ type: "stop" });
    const closed = await Promise.race([this.exited.then(() => this.events.find((e) => e.type === "closed")), sleep(20_000)]);
    if (this.child.exitCode === null) this.child.kill("SIGKILL");
    return closed;
  }
}

const state = { cluster: undefined, workers: [], admin: undefined };

async function cleanup() {
  for (const w of state.workers) if (w.child.exitCode === null) w.child.kill("SIGKILL");
  state.admin?.close();
  await state.cluster?.close();
}

/** Every partition assigned to exactly one of `workers`. */
function fullyAssigned(workers, partitions) {
  const owners = new Map();
  for (const w of workers) for (const p of w.assigned) owners.set(p, (owners.get(p) ?? 0) + 1);
  return owners.size === partitions && [...owners.values()].every((n) => n === 1);
}

async function drain(bootstrap, members, total, partitions, timeoutMs) {
  const groupId = `drain-${members}-${Date.now()}`;
  const workers = Array.from({ length: members }, (_, i) => new Worker(`${groupId}-c${i + 1}`));
  state.workers.push(...workers);
  await Promise.all(workers.map((w) => w.ready()));
  const startedAt = Date.now();
  for (const w of workers) w.start({ bootstrap, groupId, topic: TOPIC, assignor: "range" });
  await waitFor(() => fullyAssigned(workers, partitions), `group ${groupId} to be assigned`, ASSIGN_TIMEOUT_MS);
  const assignedAt = Date.now();
  await waitFor(
    () => {
      const failed = workers.find((w) => w.error);
      if (failed) throw new Error(`${failed.name}: ${failed.error}`);
      return workers.reduce((sum, w) => sum + w.progress.count, 0) >= total;
    },
    `group ${groupId} to read ${total} records`,
    timeoutMs,
    PROGRESS_INTERVAL_MS,
  );
  await sleep(2 * PROGRESS_INTERVAL_MS);
  const read = workers.reduce((sum, w) => sum + w.progress.count, 0);
  const bytes = workers.reduce((sum, w) => sum + w.progress.bytes, 0);
  const firstAt = Math.min(...workers.map((w) => w.progress.firstAt ?? Number.POSITIVE_INFINITY));
  const lastAt = Math.max(...workers.map((w) => w.progress.lastAt ?? 0));
  const seconds = Math.max(0.001, (lastAt - firstAt) / 1000);
  const perMember = workers.map((w) => w.progress.count);
  await Promise.all(workers.map((w) => w.stop()));
  return {
    members,
    records: read,
    duplicates: read - total,
    seconds,
    recordsPerSecond: read / seconds,
    mbPerSecond: bytes / MiB / seconds,
    firstAssignmentMs: assignedAt - startedAt,
    perMember,
  };
}

/** For each partition, the longest time it was held by no member (revoked or lost, then assigned elsewhere or back). */
function longestGapMs(workers, since) {
  const events = workers.flatMap((w) => w.events.filter((e) => e.at >= since && ["assigned", "revoked", "lost"].includes(e.type)));
  events.sort((a, b) => a.at - b.at);
  const releasedAt = new Map();
  let longest = 0;
  for (const e of events) {
    for (const p of e.partitions) {
      if (e.type === "assigned") {
        const at = releasedAt.get(p);
        if (at !== undefined) longest = Math.max(longest, e.at - at);
        releasedAt.delete(p);
      } else {
        releasedAt.set(p, e.at);
      }
    }
  }
  return longest;
}

async function rebalance(bootstrap, assignor, partitions) {
  const groupId = `rebalance-${assignor}-${Date.now()}`;
  const workers = [1, 2, 3].map((i) => new Worker(`${groupId}-c${i}`));
  state.workers.push(...workers);
  await Promise.all(workers.map((w) => w.ready()));
  const [a, b, c] = workers;
  a.start({ bootstrap, groupId, topic: TOPIC, assignor });
  b.start({ bootstrap, groupId, topic: TOPIC, assignor });
  await waitFor(() => fullyAssigned([a, b], partitions), `${groupId}: 2 members assigned`, ASSIGN_TIMEOUT_MS);
  await sleep(2000);

  const joinAt = Date.now();
  c.start({ bootstrap, groupId, topic: TOPIC, assignor });
  await waitFor(() => fullyAssigned([a, b, c], partitions) && c.assigned.size > 0, `${groupId}: 3 members assigned`, ASSIGN_TIMEOUT_MS, 5);
  const joinMs = Date.now() - joinAt;
  const joinGapMs = longestGapMs(workers, joinAt);
  await sleep(2000);

  const leaveAt = Date.now();
  const stopping = c.stop();
  await waitFor(() => fullyAssigned([a, b], partitions), `${groupId}: 2 members assigned after a leave`, ASSIGN_TIMEOUT_MS, 5);
  const leaveMs = Date.now() - leaveAt;
  const leaveGapMs = longestGapMs([a, b, c], leaveAt);
  await stopping;
  await Promise.all([a.stop(), b.stop()]);
  return { assignor, joinMs, joinGapMs, leaveMs, leaveGapMs };
}

async function main() {
  const records = positiveInteger("records", args.records);
  const recordBytes = positiveInteger("record-bytes", args["record-bytes"]);
  const partitions = positiveInteger("partitions", args.partitions);
  const timeoutMs = positiveInteger("timeout-seconds", args["timeout-seconds"]) * 1000;
  const { Admin, Producer } = await import("@castle/client");
  const { startCastleCluster } = await import("@castle/testkit");

  log("starting 3 combined Castle nodes");
  state.cluster = await startCastleCluster({ controllers: 3, startTimeoutMs: START_TIMEOUT_MS });
  const cluster = state.cluster;
  await cluster.waitReady("all", READY_TIMEOUT_MS);
  const bootstrap = cluster.bootstrap;
  state.admin = new Admin({ bootstrap });
  await state.admin.createTopics([
    { name: TOPIC, numPartitions: partitions, replicationFactor: 3, configs: { "min.insync.replicas": "2" } },
  ]);

  log(`filling ${TOPIC} with ${f(records)} records of ${recordBytes} bytes (acks=all)`);
  const producer = new Producer({ bootstrap, acks: -1, lingerMs: 5, batchSize: 256 * 1024 });
  const value = Buffer.alloc(recordBytes, 120);
  const fillAt = Date.now();
  let sent = 0;
  const window = [];
  for (let i = 0; i < records; i++) {
    window.push(producer.send({ topic: TOPIC, key: null, value }));
    sent++;
    if (window.length >= 4096) await Promise.all(window.splice(0));
    if (sent % 50_000 === 0) log(`  ${f(sent)} sent`);
  }
  await Promise.all(window);
  await producer.close();
  const fillSeconds = (Date.now() - fillAt) / 1000;
  log(`filled in ${f(fillSeconds, 1)} s`);

  const drains = [];
  for (const members of [1, 2, 3]) {
    log(`draining with a group of ${members}`);
    drains.push(await drain(bootstrap, members, records, partitions, timeoutMs));
  }
  const rebalances = [];
  for (const assignor of ["range", "cooperative-sticky"]) {
    log(`rebalance timing with ${assignor}`);
    rebalances.push(await rebalance(bootstrap, assignor, partitions));
  }

  out("");
  out(`Consumer groups draining ${f(records)} records of ${recordBytes} B from ${partitions} partitions (RF 3), 3 nodes on loopback`);
  out("MEMBERS  RECORDS/S  MB/S    SECONDS  FIRST-ASSIGNMENT-MS  PER-MEMBER");
  for (const d of drains) {
    out(
      `${String(d.members).padEnd(9)}${f(d.recordsPerSecond).padEnd(11)}${f(d.mbPerSecond, 1).padEnd(8)}${f(d.seconds, 2).padEnd(9)}${f(d.firstAssignmentMs).padEnd(21)}${d.perMember.join("/")}`,
    );
  }
  out("");
  out(
    "Rebalance (group of 2 stable; a 3rd joins; then it leaves): ms until every partition is assigned again, and the longest a partition had no owner",
  );
  out("ASSIGNOR             JOIN-MS  JOIN-GAP-MS  LEAVE-MS  LEAVE-GAP-MS");
  for (const r of rebalances) {
    out(`${r.assignor.padEnd(21)}${f(r.joinMs).padEnd(9)}${f(r.joinGapMs).padEnd(13)}${f(r.leaveMs).padEnd(10)}${f(r.leaveGapMs)}`);
  }
  const summary = { records, recordBytes, partitions, fillSeconds, drains, rebalances };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

if (args.worker) {
  await runWorker();
} else {
  let interrupted = false;
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.on(signal, async () => {
      if (interrupted) return;
      interrupted = true;
      await cleanup();
      process.exit(130);
    });
  }
  try {
    await main();
    await cleanup();
  } catch (error) {
    process.stderr.write(`bench:consume failed: ${error.stack ?? error}\n`);
    await cleanup();
    process.exitCode = 1;
  }
}

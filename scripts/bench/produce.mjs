#!/usr/bin/env node
import { execFile, spawn } from "node:child_process";
// npm run bench:produce [-- --records N --profile]
// One node (a child process), one producer (`castle perf produce`, its own process), acks=1, 100-byte and 1 KiB
// records. Prints records/s, MB/s, p50/p99 send latency, the node's peak RSS, and ratios to
// the machine's raw sequential append rate measured in the same run. --profile writes a CPU
// profile of the node and prints where its time went.
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Admin } from "@castle/client";
import { encodeRecordBatch, loadCastleProto } from "@castle/protocol";
import { castleCliPath, castleNodeFlags, startNodeProcess } from "@castle/testkit";
import * as grpc from "@grpc/grpc-js";
import { parseScriptArgs } from "../script-args.mjs";

const { values: args } = parseScriptArgs(import.meta.url, {
  records: { type: "string", default: "1000000" },
  "records-1k": { type: "string", default: "300000" },
  "batch-size": { type: "string", default: "16384" },
  "linger-ms": { type: "string", default: "5" },
  profile: { type: "boolean", default: false },
  json: { type: "boolean", default: false },
});

const MiB = 1024 * 1024;
const work = mkdtempSync(join(tmpdir(), "castle-bench-"));

// A plain Node loop appending the same number of bytes to a file, one write per `chunkBytes`,
// with no fsync (Castle's default flush policy leaves syncing to the OS, as Kafka's does).
// Page-cache write speed on these machines swings with writeback, so the figure is the median
// of three runs taken around the Castle runs.
function rawAppendOnce(totalBytes, chunkBytes) {
  const path = join(work, `raw-${chunkBytes}.bin`);
  const fd = openSync(path, "w");
  const chunk = Buffer.alloc(chunkBytes, 7);
  const start = process.hrtime.bigint();
  for (let written = 0; written < totalBytes; written += chunkBytes) writeSync(fd, chunk);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  closeSync(fd);
  rmSync(path);
  return totalBytes / seconds / MiB;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function sampleRss(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
    return hwm ? Number(hwm[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

// The producer side is `castle perf produce` itself (one implementation of the driving loop),
// run as its own process so producer and node each have a core.
async function run(bootstrap, topic, count, recordBytes) {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      ...castleNodeFlags(),
      castleCliPath(),
      "--bootstrap",
      bootstrap,
      "--json",
      "perf",
      "produce",
      "--topic",
      topic,
      "--num-records",
      String(count),
      "--record-size",
      String(recordBytes),
      "--acks",
      "1",
      "--batch-size",
      args["batch-size"],
      "--linger-ms",
      args["linger-ms"],
    ],
    { maxBuffer: 16 * MiB },
  );
  const perf = JSON.parse(stdout);
  if (perf.failed > 0) throw new Error(`${perf.failed} records failed`);
  return {
    recordBytes,
    records: perf.records,
    seconds: perf.seconds,
    recordsPerSecond: perf.recordsPerSec,
    mbPerSecond: (perf.records * recordBytes) / perf.seconds / MiB,
    p50Ms: perf.latencyMs.p50Ms,
    p99Ms: perf.latencyMs.p99Ms,
  };
}

// 1 MiB Produce calls, 4 in flight, straight from grpc-js: against a server that does nothing
// (the transport's ceiling here) and against the Castle node (the same calls, appended).
async function rawProduceCalls(port, topic, calls = 200, parallel = 4) {
  const proto = loadCastleProto();
  const client = new proto.castle.v1.Broker(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    "grpc.max_send_message_length": -1,
    "grpc.max_receive_message_length": -1,
  });
  const batch = encodeRecordBatch(
    Array.from({ length: 1024 }, () => ({ value: Buffer.alloc(1024, 5) })),
    { baseTimestampMs: Date.now() },
  );
  const call = () =>
    new Promise((resolve, reject) =>
      client.Produce(
        { acks: 1, timeoutMs: 10000, topics: [{ name: topic, partitions: [{ partition: 0, recordBatches: batch }] }] },
        (e, r) => (e ? reject(e) : resolve(r)),
      ),
    );
  const start = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let i = 0; i < calls / parallel; i++) await call();
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  client.close();
  return (calls * batch.length) / seconds / MiB;
}

async function transportCeiling(castlePort) {
  // With the node flags a Castle node runs with, so the ceiling and Castle are measured alike.
  const child = spawn(process.execPath, [...castleNodeFlags(), fileURLToPath(new URL("./noop-produce-server.mjs", import.meta.url))], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise((resolve, reject) => {
    child.stdout.once("data", (d) => resolve(Number(String(d).trim())));
    child.once("exit", (code) => reject(new Error(`noop server exited with ${code}`)));
  });
  try {
    const noop = await rawProduceCalls(port, "none");
    const castle = await rawProduceCalls(castlePort, "bench-raw");
    return { noopServerMbPerSecond: noop, castleMbPerSecond: castle };
  } finally {
    child.kill("SIGTERM");
  }
}

function summarizeProfile(dir) {
  const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
  if (!file) return [];
  const profile = JSON.parse(readFileSync(join(dir, file), "utf8"));
  const self = new Map();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const dt = profile.timeDeltas;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const { functionName, url, lineNumber } = node.callFrame;
    const key = `${functionName || "(anonymous)"} ${url.replace(/^.*\/(packages|node_modules)\//, "$1/")}:${lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + (dt[i] ?? 0));
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 15)
    .map(([name, us]) => ({ share: `${((100 * us) / total).toFixed(1)}%`, name }));
}

const profileDir = join(work, "profile");
const node = await startNodeProcess({
  dataDir: join(work, "data"),
  nodeArgs: args.profile ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [],
});
let peakRss = 0;
const rssTimer = setInterval(() => {
  peakRss = Math.max(peakRss, sampleRss(node.pid));
}, 200);
try {
  const admin = new Admin({ bootstrap: node.bootstrap });
  await admin.createTopics([
    { name: "bench-100", numPartitions: 1, replicationFactor: 1 },
    { name: "bench-1k", numPartitions: 1, replicationFactor: 1 },
    { name: "bench-raw", numPartitions: 1, replicationFactor: 1 },
  ]);
  await admin.close();
  const total1k = Number(args["records-1k"]) * 1024;
  const rawPerRecordRuns = [];
  const rawChunkedRuns = [];
  const sampleRaw = () => {
    rawPerRecordRuns.push(rawAppendOnce(total1k, 1024));
    rawChunkedRuns.push(rawAppendOnce(total1k, Number(args["batch-size"])));
  };
  const results = [];
  sampleRaw();
  results.push(await run(node.bootstrap, "bench-100", Number(args.records), 100));
  sampleRaw();
  results.push(await run(node.bootstrap, "bench-1k", Number(args["records-1k"]), 1024));
  sampleRaw();
  const ceiling = await transportCeiling(node.clientPort);
  peakRss = Math.max(peakRss, sampleRss(node.pid));
  clearInterval(rssTimer);
  const rawPerRecord = median(rawPerRecordRuns);
  const rawChunked = median(rawChunkedRuns);
  const oneK = results[1];
  const report = {
    results,
    rawAppendMbPerSecond: {
      oneWritePerRecord: rawPerRecord,
      oneWritePerBatch: rawChunked,
      runs: { oneWritePerRecord: rawPerRecordRuns, oneWritePerBatch: rawChunkedRuns },
    },
    ratio1kToRawPerRecord: oneK.mbPerSecond / rawPerRecord,
    ratio1kToRawPerBatch: oneK.mbPerSecond / rawChunked,
    grpcOneMiBProduce: ceiling,
    target100B: { recordsPerSecond: 300000, met: results[0].recordsPerSecond >= 300000 },
    kafka2014SingleProducer: { recordsPerSecond: 821557, ratio: results[0].recordsPerSecond / 821557 },
    nodePeakRssMiB: peakRss / MiB,
    rssUnder256MiB: peakRss < 256 * MiB,
  };
  if (args.profile) {
    await node.stop();
    report.profile = summarizeProfile(profileDir);
  }
  if (args.json) console.log(JSON.stringify(report, null, 2));
  else {
    console.log("\nCastle produce benchmark (1 node, 1 producer, acks=1, 1 partition)\n");
    console.table(
      results.map((r) => ({
        "record bytes": r.recordBytes,
        records: r.records,
        "records/s": Math.round(r.recordsPerSecond),
        "MB/s": r.mbPerSecond.toFixed(1),
        "p50 ms": r.p50Ms.toFixed(2),
        "p99 ms": r.p99Ms.toFixed(2),
      })),
    );
    console.log(
      `raw sequential append of the same bytes, no fsync (median of 3 runs: ${rawPerRecordRuns.map((r) => r.toFixed(0)).join(", ")} / ${rawChunkedRuns.map((r) => r.toFixed(0)).join(", ")}): ` +
        `${rawPerRecord.toFixed(0)} MB/s one write per 1 KiB record, ${rawChunked.toFixed(0)} MB/s one write per ${args["batch-size"]}-byte batch`,
    );
    console.log(
      `1 KiB ratio to raw: ${(100 * report.ratio1kToRawPerRecord).toFixed(1)}% (per-record loop), ${(100 * report.ratio1kToRawPerBatch).toFixed(1)}% (per-batch loop)`,
    );
    console.log(
      `1 MiB Produce calls straight from grpc-js, 4 in flight: ${ceiling.noopServerMbPerSecond.toFixed(0)} MB/s to a server that does nothing (the transport's ceiling), ` +
        `${ceiling.castleMbPerSecond.toFixed(0)} MB/s to Castle; the 1 KiB producer reaches ${((100 * oneK.mbPerSecond) / ceiling.noopServerMbPerSecond).toFixed(0)}% of that ceiling`,
    );
    console.log(
      `100 B: ${Math.round(results[0].recordsPerSecond)} records/s = ${(100 * report.kafka2014SingleProducer.ratio).toFixed(1)}% of Kafka's 2014 821,557/s; target 300,000: ${report.target100B.met ? "met" : "NOT met"}`,
    );
    console.log(`node peak RSS: ${report.nodePeakRssMiB.toFixed(1)} MiB (limit 256 MiB: ${report.rssUnder256MiB ? "ok" : "EXCEEDED"})`);
    if (report.profile) {
      console.log("\nnode CPU profile, top self time:");
      console.table(report.profile);
    }
  }
} finally {
  clearInterval(rssTimer);
  await node.stop();
  rmSync(work, { recursive: true, force: true });
}

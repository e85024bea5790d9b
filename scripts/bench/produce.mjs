#!/usr/bin/env node
// npm run bench:produce [-- --records N --profile]
// One node (a child process), one producer in this process, acks=1, 100-byte and 1 KiB
// records. Prints records/s, MB/s, p50/p99 send latency, the node's peak RSS, and ratios to
// the machine's raw sequential append rate measured in the same run. --profile writes a CPU
// profile of the node and prints where its time went.
import { closeSync, fsyncSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Admin, Producer } from "@castle/client";
import { startNodeProcess } from "@castle/testkit";

const { values: args } = parseArgs({
  options: {
    records: { type: "string", default: "1000000" },
    "records-1k": { type: "string", default: "300000" },
    "batch-size": { type: "string", default: "262144" },
    "linger-ms": { type: "string", default: "5" },
    profile: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
});

const MiB = 1024 * 1024;
const work = mkdtempSync(join(tmpdir(), "castle-bench-"));

function rawAppendRate(recordBytes, totalBytes, chunkBytes) {
  const path = join(work, `raw-${recordBytes}-${chunkBytes}.bin`);
  const fd = openSync(path, "w");
  const chunk = Buffer.alloc(chunkBytes, 7);
  const start = process.hrtime.bigint();
  for (let written = 0; written < totalBytes; written += chunkBytes) writeSync(fd, chunk);
  fsyncSync(fd);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  closeSync(fd);
  rmSync(path);
  return totalBytes / seconds / MiB;
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
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

async function run(bootstrap, topic, count, recordBytes) {
  const producer = new Producer({
    bootstrap,
    acks: 1,
    batchSize: Number(args["batch-size"]),
    lingerMs: Number(args["linger-ms"]),
    bufferMemory: 64 * MiB,
  });
  const value = Buffer.alloc(recordBytes, 97);
  const latencies = new Float64Array(count);
  let done = 0;
  let failed = 0;
  let firstError;
  const start = performance.now();
  let lastReport = start;
  for (let i = 0; i < count; i++) {
    const sentAt = performance.now();
    producer.send({ topic, value }).then(
      () => {
        latencies[done++] = performance.now() - sentAt;
      },
      (error) => {
        failed++;
        firstError ??= error;
      },
    );
    // Yield now and then so responses are processed while we produce.
    if ((i & 1023) === 1023) {
      await new Promise((resolve) => setImmediate(resolve));
      const now = performance.now();
      if (!args.json && now - lastReport > 1000) {
        process.stderr.write(`\r  ${recordBytes} B: ${i + 1}/${count} sent, ${Math.round((i + 1) / ((now - start) / 1000))} records/s   `);
        lastReport = now;
      }
    }
  }
  await producer.flush();
  const seconds = (performance.now() - start) / 1000;
  await producer.close();
  if (!args.json) process.stderr.write("\r\x1b[K");
  if (failed > 0) throw new Error(`${failed} sends failed; first: ${firstError?.message}`);
  const sorted = Array.from(latencies.subarray(0, done)).sort((a, b) => a - b);
  return {
    recordBytes,
    records: count,
    seconds,
    recordsPerSecond: count / seconds,
    mbPerSecond: (count * recordBytes) / seconds / MiB,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
  };
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
  overrides: { "log.level": "warn" },
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
  ]);
  await admin.close();
  const results = [];
  results.push(await run(node.bootstrap, "bench-100", Number(args.records), 100));
  results.push(await run(node.bootstrap, "bench-1k", Number(args["records-1k"]), 1024));
  peakRss = Math.max(peakRss, sampleRss(node.pid));
  clearInterval(rssTimer);
  const total1k = Number(args["records-1k"]) * 1024;
  const rawPerRecord = rawAppendRate(1024, total1k, 1024);
  const rawChunked = rawAppendRate(1024, total1k, Number(args["batch-size"]));
  const oneK = results[1];
  const report = {
    results,
    rawAppendMbPerSecond: { oneWritePerRecord: rawPerRecord, oneWritePerBatch: rawChunked },
    ratio1kToRawPerRecord: oneK.mbPerSecond / rawPerRecord,
    ratio1kToRawPerBatch: oneK.mbPerSecond / rawChunked,
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
      `raw sequential append, same bytes: ${rawPerRecord.toFixed(0)} MB/s one write per 1 KiB record, ${rawChunked.toFixed(0)} MB/s one write per batch`,
    );
    console.log(
      `1 KiB ratio to raw: ${(100 * report.ratio1kToRawPerRecord).toFixed(1)}% (per-record loop), ${(100 * report.ratio1kToRawPerBatch).toFixed(1)}% (per-batch loop)`,
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

#!/usr/bin/env node

// npm run bench:controller [-- --topics N --partitions P --rf R --session-timeout-ms MS --heartbeat-ms MS --no-batched --json]
// The metadata quorum under load, on three combined (broker,controller) nodes as real processes
// on loopback (@castle/testkit's startCastleCluster, from packages/testkit/dist):
//  (a) create 1,000 partitions as 100 topics x 10, RF 3, one CreateTopics call per topic, in
//      sequence; then the time until DescribeTopics shows every partition led; at the end the
//      same once more as one batched call of 100 topics;
//  (b) controller failover: kill -9 the active controller (DescribeQuorum's leader), then create a
//      small topic until one call succeeds (bounded attempts, short back-off): kill to success,
//      against 1 s plus the election timeout; the killed node is restarted after;
//  (c) fencing: kill -9 a broker that is not the controller and leads partitions; the time until
//      DescribeTopics shows none of them led by it, less broker.session.timeout.ms (set low here
//      so the run is short): what remains is the controller's detection slack plus moving up to
//      1,000 leaders;
//  (d) every node's RSS holding those 1,000 partitions (aim: under 512 MiB).
// Progress goes to stderr, figures to stdout, then one JSON summary line (--json: only that).
// Every wait is bounded; the cluster is closed on success, failure and SIGINT/SIGTERM.

import { brokerConfigDefs } from "@castle/broker";
import { Admin } from "@castle/client";
import { DEFAULT_ELECTION_TICKS, DEFAULT_TICK_MS } from "@castle/raft";
import { startCastleCluster, waitUntil } from "@castle/testkit";
import { parseScriptArgs } from "../script-args.mjs";

const { values: args } = parseScriptArgs(import.meta.url, {
  topics: { type: "string", default: "100" },
  partitions: { type: "string", default: "10" },
  rf: { type: "string", default: "3" },
  "session-timeout-ms": { type: "string", default: "3000" },
  "heartbeat-ms": { type: "string", default: "500" },
  "no-batched": { type: "boolean", default: false },
  json: { type: "boolean", default: false },
});

const TOPICS = Number(args.topics);
const PARTITIONS = Number(args.partitions);
const RF = Number(args.rf);
const SESSION_TIMEOUT_MS = Number(args["session-timeout-ms"]);
const HEARTBEAT_MS = Number(args["heartbeat-ms"]);
const NODES = 3;
const MiB = 1024 * 1024;

const START_TIMEOUT_MS = 60_000;
const READY_TIMEOUT_MS = 60_000;
const CREATE_PHASE_TIMEOUT_MS = 180_000;
const LEADERS_TIMEOUT_MS = 60_000;
/** One request of the failover loop, client deadline and server timeout alike. */
const FAILOVER_ATTEMPT_TIMEOUT_MS = 1_500;
const FAILOVER_ATTEMPTS_MAX = 300;
const FAILOVER_TIMEOUT_MS = 30_000;
/**
 * A new attempt starts this often while fewer than FAILOVER_IN_FLIGHT_MAX are pending, so an
 * attempt stuck on the dead controller until its timeout does not hide a recovery behind it:
 * the figure's resolution is this interval, not the attempt timeout.
 */
const FAILOVER_ATTEMPT_INTERVAL_MS = 50;
const FAILOVER_IN_FLIGHT_MAX = 8;
const FENCING_TIMEOUT_MS = SESSION_TIMEOUT_MS + 30_000;
const POLL_INTERVAL_MS = 25;
/** Whatever happens, the run ends (and the cluster is closed) after this long. */
const RUN_TIMEOUT_MS = 15 * 60_000;

const AIM = {
  kafkaZooKeeperMsPer1000Partitions: 5_000,
  leadersMsPer1000Partitions: 1_000,
  failoverMsOverElectionTimeout: 1_000,
  rssBytesPerNode: 512 * MiB,
};

const OVERRIDES = {
  "broker.session.timeout.ms": String(SESSION_TIMEOUT_MS),
  "broker.heartbeat.interval.ms": String(HEARTBEAT_MS),
};

const log = (line) => {
  if (!args.json) process.stderr.write(`${line}\n`);
};
const out = (line) => {
  if (!args.json) process.stdout.write(`${line}\n`);
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const since = (start) => performance.now() - start;
const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};
const f = (n, digits = 0) =>
  n === undefined ? "-" : n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const topicNames = (prefix) => Array.from({ length: TOPICS }, (_, t) => `${prefix}-${String(t).padStart(3, "0")}`);

/**
 * The election timeout the quorum runs with: a node config key for it if the node has one
 * (its override or default), else RaftNode's defaults (randomized in [timeout, 2 x timeout)).
 */
function electionTimeout() {
  const def = brokerConfigDefs.find((d) => /election\.timeout\.ms$/.test(d.name));
  if (def) return { ms: Number(OVERRIDES[def.name] ?? def.defaultValue), source: def.name };
  return {
    ms: DEFAULT_TICK_MS * DEFAULT_ELECTION_TICKS,
    source: `RaftNode defaults, ${DEFAULT_ELECTION_TICKS} ticks of ${DEFAULT_TICK_MS} ms, randomized up to 2x`,
  };
}

/** Fails with a clear message when the client or server lacks a call the bench needs. */
function requireMethod(admin, name) {
  if (typeof admin[name] !== "function") throw new Error(`Admin.${name}() does not exist yet (packages/client); the bench needs it`);
}

async function describePartitions(admin, names) {
  const topics = await admin.describeTopics(names);
  return topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, ...p })));
}

/** Polls DescribeTopics until every partition of `names` exists and has a leader; returns when (performance.now()). */
async function waitForLeaders(admin, names) {
  const wanted = names.length * PARTITIONS;
  let last = { partitions: 0, led: 0 };
  try {
    return await waitUntil(
      async () => {
        const partitions = await describePartitions(admin, names);
        last = { partitions: partitions.length, led: partitions.filter((p) => p.leader >= 0).length };
        return last.partitions === wanted && last.led === wanted ? performance.now() : undefined;
      },
      `all ${wanted} partitions of ${names.length} topics to have a leader`,
      LEADERS_TIMEOUT_MS,
      POLL_INTERVAL_MS,
    );
  } catch (error) {
    throw new Error(`${error.message} (last seen: ${last.partitions} partitions, ${last.led} led)`);
  }
}

/** (a) One CreateTopics call per topic, in sequence, then until every partition is led. */
async function createSequential(admin) {
  const names = topicNames("seq");
  const latencies = [];
  const start = performance.now();
  for (const name of names) {
    const call = performance.now();
    await admin.createTopics([{ name, numPartitions: PARTITIONS, replicationFactor: RF }]);
    latencies.push(since(call));
    if (since(start) > CREATE_PHASE_TIMEOUT_MS) throw new Error(`creating ${TOPICS} topics took over ${CREATE_PHASE_TIMEOUT_MS} ms`);
  }
  const createMs = since(start);
  const ledAt = await waitForLeaders(admin, names);
  return {
    names,
    result: {
      topics: TOPICS,
      partitions: TOPICS * PARTITIONS,
      createMs,
      callP50Ms: quantile(latencies, 0.5),
      callP99Ms: quantile(latencies, 0.99),
      callMaxMs: Math.max(...latencies),
      leadersAfterLastCallMs: ledAt - (start + createMs),
      firstCallToAllLedMs: ledAt - start,
    },
  };
}

/** (a, batched) One CreateTopics call for every topic, then until every partition is led. */
async function createBatched(admin) {
  const names = topicNames("batch");
  const start = performance.now();
  await admin.createTopics(names.map((name) => ({ name, numPartitions: PARTITIONS, replicationFactor: RF })));
  const createMs = since(start);
  const ledAt = await waitForLeaders(admin, names);
  return {
    topics: TOPICS,
    partitions: TOPICS * PARTITIONS,
    createMs,
    leadersAfterCallMs: ledAt - (start + createMs),
    callToAllLedMs: ledAt - start,
  };
}

/** An Admin on every running broker but `excluded`, with short deadlines; warmed by one call. */
async function survivorAdmin(cluster, excluded, timeoutMs) {
  const bootstrap = cluster.nodes
    .filter((n) => n.id !== excluded && n.running && n.bootstrap !== "")
    .map((n) => n.bootstrap)
    .join(",");
  if (bootstrap === "") throw new Error(`no running broker other than node ${excluded}`);
  const admin = new Admin({ bootstrap, requestTimeoutMs: timeoutMs, timeoutMs });
  await admin.listTopics();
  return admin;
}

/**
 * Creates one-partition topics (a new name each time) from the moment of `startedAt`: a new
 * attempt every FAILOVER_ATTEMPT_INTERVAL_MS while fewer than FAILOVER_IN_FLIGHT_MAX are
 * pending, until one succeeds; bounded by FAILOVER_ATTEMPTS_MAX and FAILOVER_TIMEOUT_MS. Waits
 * for the attempts still pending (bounded by their own timeout) before returning.
 */
async function createUntilSuccess(admin, startedAt) {
  let attempts = 0;
  let inFlight = 0;
  let succeededMs;
  const errors = new Map();
  const pending = new Set();
  while (succeededMs === undefined) {
    if (attempts >= FAILOVER_ATTEMPTS_MAX || since(startedAt) > FAILOVER_TIMEOUT_MS) {
      await Promise.allSettled(pending);
      if (succeededMs !== undefined) break;
      throw new Error(
        `no topic could be created within ${attempts} attempts / ${f(since(startedAt))} ms of killing the controller; ` +
          `errors: ${JSON.stringify(Object.fromEntries(errors))}`,
      );
    }
    if (inFlight < FAILOVER_IN_FLIGHT_MAX) {
      attempts++;
      inFlight++;
      const attempt = admin
        .createTopics([{ name: `failover-${attempts}`, numPartitions: 1, replicationFactor: Math.min(RF, NODES - 1) }])
        .then(
          () => {
            succeededMs ??= since(startedAt);
          },
          (error) => {
            const key = error.code ?? error.message;
            errors.set(key, (errors.get(key) ?? 0) + 1);
          },
        )
        .finally(() => {
          inFlight--;
          pending.delete(attempt);
        });
      pending.add(attempt);
    }
    await sleep(FAILOVER_ATTEMPT_INTERVAL_MS);
  }
  await Promise.allSettled(pending);
  return { succeededMs, attempts, errorsSeen: Object.fromEntries(errors) };
}

/** (b) kill -9 the active controller; create one-partition topics until a call succeeds. */
async function failover(cluster, admin) {
  requireMethod(admin, "describeQuorum");
  const before = await admin.describeQuorum();
  const victim = before.leaderId;
  if (!(victim > 0) || !cluster.nodes.some((n) => n.id === victim)) {
    throw new Error(`DescribeQuorum names no active controller of this cluster (leaderId ${victim})`);
  }
  const survivors = await survivorAdmin(cluster, victim, FAILOVER_ATTEMPT_TIMEOUT_MS);
  try {
    log(`(b) killing the active controller, node ${victim} (epoch ${before.leaderEpoch})`);
    const killedAt = performance.now();
    await cluster.kill(victim);
    const { succeededMs, attempts, errorsSeen } = await createUntilSuccess(survivors, killedAt);
    const after = await survivors.describeQuorum();
    log(`(b) created a topic ${f(succeededMs)} ms after the kill; restarting node ${victim}`);
    const restartAt = performance.now();
    await cluster.start(victim);
    await cluster.waitReady(victim, READY_TIMEOUT_MS);
    return {
      killedNode: victim,
      newLeaderId: after.leaderId,
      leaderEpochBefore: before.leaderEpoch,
      leaderEpochAfter: after.leaderEpoch,
      killToCreateMs: succeededMs,
      attempts,
      attemptIntervalMs: FAILOVER_ATTEMPT_INTERVAL_MS,
      errorsSeen,
      restartToReadyMs: since(restartAt),
    };
  } finally {
    survivors.close();
  }
}

/** (c) kill -9 a broker that leads partitions and is not the controller; until none is led by it. */
async function fencing(cluster, admin, names) {
  const controllerId = (await admin.describeQuorum()).leaderId;
  const partitions = await describePartitions(admin, names);
  const ledBy = (id, list) => list.filter((p) => p.leader === id).length;
  const candidates = cluster.nodes
    .filter((n) => n.id !== controllerId && n.running && n.roles.includes("broker"))
    .map((n) => ({ id: n.id, led: ledBy(n.id, partitions) }))
    .sort((a, b) => b.led - a.led);
  const victim = candidates[0];
  if (victim === undefined || victim.led === 0) {
    throw new Error(`no broker other than the controller (node ${controllerId}) leads a partition: ${JSON.stringify(candidates)}`);
  }
  const survivors = await survivorAdmin(cluster, victim.id, 5_000);
  const hasNodes = Array.isArray((await survivors.describeCluster()).nodes);
  try {
    log(`(c) killing node ${victim.id}, which leads ${victim.led} of ${partitions.length} partitions (controller: node ${controllerId})`);
    const killedAt = performance.now();
    await cluster.kill(victim.id);
    let fencedSeenMs;
    // When the controller last heard the victim, in ms after the kill (negative: before it),
    // from the first DescribeCluster after the kill: its session expires session.timeout later.
    let lastHeartbeatMs;
    let last = { stillLed: victim.led, leaderless: 0 };
    try {
      await waitUntil(
        async () => {
          if (hasNodes && fencedSeenMs === undefined) {
            const asked = since(killedAt);
            const node = (await survivors.describeCluster()).nodes.find((n) => n.nodeId === victim.id);
            if (lastHeartbeatMs === undefined && node !== undefined && node.lastHeartbeatAgeMs >= 0) {
              lastHeartbeatMs = asked - node.lastHeartbeatAgeMs;
            }
            if (node?.fenced) fencedSeenMs = since(killedAt);
          }
          const now = await describePartitions(survivors, names);
          last = { stillLed: ledBy(victim.id, now), leaderless: now.filter((p) => p.leader < 0).length };
          return last.stillLed === 0;
        },
        `no partition led by node ${victim.id}`,
        FENCING_TIMEOUT_MS,
        POLL_INTERVAL_MS,
      );
    } catch (error) {
      throw new Error(`${error.message} (last seen: ${last.stillLed} still led by it, ${last.leaderless} leaderless)`);
    }
    const killToMovedMs = since(killedAt);
    log(`(c) node ${victim.id}'s partitions moved ${f(killToMovedMs)} ms after the kill; restarting it`);
    await cluster.start(victim.id);
    await cluster.waitReady(victim.id, READY_TIMEOUT_MS);
    return {
      killedNode: victim.id,
      controllerId,
      partitionsLed: victim.led,
      partitionsTotal: partitions.length,
      sessionTimeoutMs: SESSION_TIMEOUT_MS,
      heartbeatIntervalMs: HEARTBEAT_MS,
      killToMovedMs,
      movedAfterSessionTimeoutMs: killToMovedMs - SESSION_TIMEOUT_MS,
      lastHeartbeatMs,
      movedAfterSessionExpiryMs: lastHeartbeatMs === undefined ? undefined : killToMovedMs - (lastHeartbeatMs + SESSION_TIMEOUT_MS),
      fencedSeenMs,
      leaderlessAtEnd: last.leaderless,
    };
  } finally {
    survivors.close();
  }
}

function rssOf(cluster) {
  return Object.fromEntries(cluster.nodes.filter((n) => n.running).map((n) => [n.id, cluster.rssBytes(n.id)]));
}

function report(summary) {
  const { create, failover: fo, fencing: fe, rss, electionTimeout: et } = summary;
  const seq = create.sequential;
  out(`\nCastle controller benchmark: ${NODES} combined nodes on loopback, ${TOPICS} topics x ${PARTITIONS} partitions, RF ${RF}`);
  out(`cluster start to every node ready: ${f(summary.startToReadyMs)} ms`);
  out(
    `(a) ${TOPICS} sequential CreateTopics calls (${seq.partitions} partitions): ${f(seq.createMs)} ms ` +
      `(per call p50 ${f(seq.callP50Ms, 1)} ms, p99 ${f(seq.callP99Ms, 1)} ms, max ${f(seq.callMaxMs, 1)} ms); ` +
      `every partition led ${f(seq.leadersAfterLastCallMs)} ms after the last call, ${f(seq.firstCallToAllLedMs)} ms after the first`,
  );
  if (create.batched) {
    const b = create.batched;
    out(
      `    one batched CreateTopics call of ${b.topics} topics (${b.partitions} partitions): ${f(b.createMs)} ms; ` +
        `every partition led ${f(b.leadersAfterCallMs)} ms after it returned, ${f(b.callToAllLedMs)} ms after it was sent`,
    );
  }
  const per1000 = (ms, partitions) => (1000 * ms) / partitions;
  const aimLine = (label, ms, partitions) =>
    `${label} ${f(per1000(ms, partitions))} ms per 1,000 (${per1000(ms, partitions) < AIM.leadersMsPer1000Partitions ? "met" : "NOT met"}; ` +
    `${f((per1000(ms, partitions) / AIM.kafkaZooKeeperMsPer1000Partitions) * 100, 1)}% of Kafka/ZooKeeper's)`;
  out(
    `    aim: well under ${f(AIM.leadersMsPer1000Partitions)} ms per 1,000 partitions led (Kafka with ZooKeeper ~${f(AIM.kafkaZooKeeperMsPer1000Partitions)} ms ` +
      `per 1,000 for leader election): ${aimLine("sequential", seq.firstCallToAllLedMs, seq.partitions)}` +
      (create.batched ? `, ${aimLine("batched", create.batched.callToAllLedMs, create.batched.partitions)}` : ""),
  );
  out(
    `(b) controller failover (kill -9 node ${fo.killedNode}; new leader node ${fo.newLeaderId}, epoch ${fo.leaderEpochBefore} -> ${fo.leaderEpochAfter}): ` +
      `a topic created ${f(fo.killToCreateMs)} ms after the kill (${fo.attempts} attempts, one every ${fo.attemptIntervalMs} ms; errors ${JSON.stringify(fo.errorsSeen)})`,
  );
  out(
    `    election timeout ${f(et.ms)} ms (${et.source}); aim under ${f(summary.aims.failoverMs)} ms (1 s + election timeout): ` +
      `${fo.killToCreateMs < summary.aims.failoverMs ? "met" : "NOT met"}; the killed node was back and ready ${f(fo.restartToReadyMs)} ms after its restart`,
  );
  out(
    `(c) fencing (kill -9 node ${fe.killedNode}, leading ${fe.partitionsLed} of ${fe.partitionsTotal} partitions; controller node ${fe.controllerId}): ` +
      `none led by it ${f(fe.killToMovedMs)} ms after the kill; broker.session.timeout.ms ${f(fe.sessionTimeoutMs)} ` +
      `(heartbeat ${f(fe.heartbeatIntervalMs)} ms): ${f(fe.movedAfterSessionTimeoutMs)} ms beyond the session timeout counted from the kill` +
      (fe.movedAfterSessionExpiryMs === undefined
        ? ""
        : `, ${f(fe.movedAfterSessionExpiryMs)} ms beyond the session's expiry (last heartbeat heard ${f(-fe.lastHeartbeatMs)} ms before the kill)`),
  );
  out(
    `    ${fe.fencedSeenMs === undefined ? "" : `DescribeCluster showed it fenced ${f(fe.fencedSeenMs)} ms after the kill; `}` +
      `${fe.leaderlessAtEnd} partitions left without a leader; moving ${fe.partitionsLed} leaders: aim well under ` +
      `${f((AIM.leadersMsPer1000Partitions * fe.partitionsLed) / 1000)} ms (1 s per 1,000), Kafka with ZooKeeper ~${f((AIM.kafkaZooKeeperMsPer1000Partitions * fe.partitionsLed) / 1000)} ms`,
  );
  const rssLine = (label, byNode) =>
    `${label}: ${Object.entries(byNode)
      .map(([id, bytes]) => `node ${id} ${f(bytes / MiB, 1)} MiB`)
      .join(", ")}`;
  out(
    `(d) RSS ${rssLine(`with ${seq.partitions} partitions`, rss.atSequentialPartitions)} ` +
      `(aim under ${f(AIM.rssBytesPerNode / MiB)} MiB: ${Object.values(rss.atSequentialPartitions).every((b) => b < AIM.rssBytesPerNode) ? "met" : "NOT met"})`,
  );
  out(`    RSS ${rssLine("at the end", rss.atEnd)}`);
}

let cluster;
let closing;
const closeCluster = () => {
  closing ??= cluster?.close() ?? Promise.resolve();
  return closing;
};
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    process.stderr.write(`${signal}: closing the cluster\n`);
    void closeCluster().finally(() => process.exit(130));
  });
}
const watchdog = setTimeout(() => {
  process.stderr.write(`the run exceeded ${RUN_TIMEOUT_MS} ms; closing the cluster\n`);
  void closeCluster().finally(() => process.exit(1));
}, RUN_TIMEOUT_MS);
watchdog.unref();

let admin;
try {
  const et = electionTimeout();
  log(`starting ${NODES} combined nodes (broker.session.timeout.ms=${SESSION_TIMEOUT_MS}, broker.heartbeat.interval.ms=${HEARTBEAT_MS})`);
  const startAt = performance.now();
  cluster = await startCastleCluster({ controllers: NODES, overrides: OVERRIDES, startTimeoutMs: START_TIMEOUT_MS });
  await cluster.waitReady("all", READY_TIMEOUT_MS);
  const startToReadyMs = since(startAt);
  log(`cluster ready in ${f(startToReadyMs)} ms; bootstrap ${cluster.bootstrap}`);
  admin = new Admin({ bootstrap: cluster.bootstrap });

  log(`(a) creating ${TOPICS} topics x ${PARTITIONS} partitions, RF ${RF}, one call per topic`);
  const sequential = await createSequential(admin);
  const rssAtSequentialPartitions = rssOf(cluster);
  const failoverResult = await failover(cluster, admin);
  const fencingResult = await fencing(cluster, admin, sequential.names);
  let batched;
  if (!args["no-batched"]) {
    log(`(a) creating ${TOPICS} more topics x ${PARTITIONS} partitions in one call`);
    batched = await createBatched(admin);
  }
  const summary = {
    config: { nodes: NODES, topics: TOPICS, partitions: PARTITIONS, replicationFactor: RF, overrides: OVERRIDES },
    startToReadyMs,
    create: { sequential: sequential.result, batched },
    failover: failoverResult,
    fencing: fencingResult,
    electionTimeout: et,
    rss: { atSequentialPartitions: rssAtSequentialPartitions, atEnd: rssOf(cluster) },
    aims: {
      leadersMsPer1000Partitions: AIM.leadersMsPer1000Partitions,
      kafkaZooKeeperMsPer1000Partitions: AIM.kafkaZooKeeperMsPer1000Partitions,
      failoverMs: AIM.failoverMsOverElectionTimeout + et.ms,
      rssBytesPerNode: AIM.rssBytesPerNode,
    },
  };
  report(summary);
  process.stdout.write(`${JSON.stringify(summary)}\n`);
} catch (error) {
  process.stderr.write(`bench:controller failed: ${error.stack ?? error}\n`);
  for (const node of cluster?.nodes ?? []) {
    process.stderr.write(`--- node ${node.id} (${node.running ? "running" : "not running"}), last log lines:\n`);
    process.stderr.write(`${cluster.recentLines(node.id).slice(-8).join("\n")}\n`);
  }
  process.exitCode = 1;
} finally {
  admin?.close();
  clearTimeout(watchdog);
  await closeCluster();
}

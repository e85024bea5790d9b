// Durability under faults (issue 5, "Must show"), Jepsen-style, on real node processes: three
// combined nodes whose every connection (Raft and controller RPCs, replication fetches, clients)
// goes through the harness's FaultNetwork; a topic with RF 3 and min.insync.replicas 2; three
// producers (acks=all, one request in flight, so per-partition order holds across retries)
// write records named by producer and sequence to every partition while a seeded nemesis
// kill -9s and restarts nodes (the active controller and partition leaders among them),
// SIGSTOPs and resumes them, partitions one node from the other two while clients still reach
// it, and cuts links one way; at most one node is faulty at a time, so a majority stays. A live
// consumer remembers every (partition, offset) -> value it read below the high watermark.
// Then every fault heals, every node restarts, and once every ISR is full a consumer reads
// every partition from 0 to its high watermark and checks the history:
//   - every acknowledged record is at its acknowledged offset;
//   - offsets are contiguous from 0 (no gaps);
//   - per producer and partition, records appear in sequence order (repeats from retries are
//     duplicates, counted and reported: idempotence is a later issue);
//   - everything the live consumer read is still there with the same value.
// CI runs a short fixed seed; `npm run test:chaos -- --minutes N [--seed S]` runs the same
// scenario longer (scripts/chaos.mjs sets CASTLE_CHAOS_SEED and CASTLE_CHAOS_FAULT_SECONDS).
// A failure names its seed and writes the nemesis timeline and every node log line kept to a
// file (CASTLE_CHAOS_LOG_LEVEL=debug adds the replica fetchers' refusals). The seed replays the
// schedule (fault kinds, aims, hold and quiet times); which node is the controller or a leader
// when a step aims at one, and the interleaving with the cluster, depend on the run.

import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Admin, Consumer, Producer, type TopicDescription, tpKey } from "@castle/client";
import { SeededRandom } from "@castle/common";
import { type CastleCluster, FAULT_CLIENT_ENDPOINT, type FaultNetwork, startCastleCluster, waitUntil } from "@castle/testkit";
import { expect } from "chai";

/** The fixed CI seed; a seed that ever failed belongs in FAILED_SEEDS below, run by CI too. */
const DEFAULT_SEED = 20_261_122;
const SEED = Number(process.env.CASTLE_CHAOS_SEED ?? DEFAULT_SEED);
/** How long the nemesis injects faults. */
const FAULT_PHASE_MS = Math.round(Number(process.env.CASTLE_CHAOS_FAULT_SECONDS ?? 35) * 1000);

const TOPIC = "durable";
const PARTITIONS = 3;
const NODE_IDS = [1, 2, 3] as const;
const PRODUCERS = 3;
/** Records a producer has sent and not yet seen settle. */
const PRODUCER_WINDOW_RECORDS = 16;
/** Pause between two sends of one producer: bounds the load the proxies (in this process) carry. */
const PRODUCER_SEND_INTERVAL_MS = 4;
/** Records one producer may send in a run, whatever its length. */
const RECORDS_PER_PRODUCER_MAX = 2_000_000;
/** Padding that makes records a realistic size without making the final read slow. */
const VALUE_PADDING = "x".repeat(64);

const NODE_OVERRIDES: Readonly<Record<string, string>> = {
  "broker.session.timeout.ms": "3000",
  "broker.heartbeat.interval.ms": "300",
  // A follower cut off leaves the ISR after this, so the other two keep min.insync.replicas.
  "replica.lag.time.max.ms": "3000",
  "replica.fetch.backoff.ms": "200",
  "auto.create.topics.enable": "false",
  // CASTLE_CHAOS_LOG_LEVEL=debug keeps the replica fetchers' refusals and failures for diagnosis.
  "log.level": process.env.CASTLE_CHAOS_LOG_LEVEL ?? "info",
};
const PRODUCER_REQUEST_TIMEOUT_MS = 5_000;
const PRODUCER_DELIVERY_TIMEOUT_MS = 20_000;
const ADMIN_REQUEST_TIMEOUT_MS = 3_000;

/** Nemesis timings: a fault holds for [HOLD_MIN, HOLD_MIN + HOLD_SPREAD), then a quiet gap. */
const FAULT_HOLD_MIN_MS = 2_000;
const FAULT_HOLD_SPREAD_MS = 4_000;
const QUIET_MIN_MS = 1_000;
const QUIET_SPREAD_MS = 2_500;
/** Faults in one run at most, whatever its length. */
const FAULT_STEPS_MAX = 10_000;
/** A restarted node gets this long to be ready before the nemesis moves on anyway. */
const NODE_READY_TIMEOUT_MS = 30_000;

/** Recovery and verification bounds. */
const RECOVERY_TIMEOUT_MS = 60_000;
const SETTLE_TIMEOUT_MS = PRODUCER_DELIVERY_TIMEOUT_MS + 10_000;
const READ_TIMEOUT_MS = 60_000;
const POLL_INTERVAL_MS = 250;
/** Log lines kept per run for diagnosis. */
const LOG_LINES_MAX = 200_000;
/** Violations printed per kind; the counts are complete. */
const VIOLATIONS_SHOWN_MAX = 20;

type FaultKind = "kill" | "pause" | "partition" | "cut-one-way";
const FAULT_KINDS: readonly FaultKind[] = ["kill", "pause", "partition", "cut-one-way"];

/** One nemesis step, every choice drawn from the seed before the step runs. */
interface FaultStep {
  readonly kind: FaultKind;
  /** Whom to hit: the active controller, the leader of `partition`, or `node`; `node` also when the cluster does not say. */
  readonly aim: "controller" | "leader" | "node";
  readonly partition: number;
  readonly node: number;
  /** cut-one-way: which other node (index into the others), and whether the target's sending side is cut. */
  readonly peer: number;
  readonly outbound: boolean;
  readonly holdMs: number;
  readonly quietMs: number;
}

/** The seed's fault schedule: rounds of the four kinds in a shuffled order, so every short run has each. */
function* faultSchedule(seed: number): Generator<FaultStep> {
  const random = new SeededRandom(seed);
  const aims = ["controller", "leader", "node"] as const;
  for (;;) {
    const round = [...FAULT_KINDS];
    for (let i = round.length - 1; i > 0; i--) {
      const j = random.int(i + 1);
      [round[i], round[j]] = [round[j] as FaultKind, round[i] as FaultKind];
    }
    for (const kind of round) {
      yield {
        kind,
        aim: aims[random.int(aims.length)] as FaultStep["aim"],
        partition: random.int(PARTITIONS),
        node: NODE_IDS[random.int(NODE_IDS.length)] as number,
        peer: random.int(2),
        outbound: random.int(2) === 0,
        holdMs: FAULT_HOLD_MIN_MS + random.int(FAULT_HOLD_SPREAD_MS),
        quietMs: QUIET_MIN_MS + random.int(QUIET_SPREAD_MS),
      };
    }
  }
}

interface Sent {
  readonly producer: number;
  readonly seq: number;
  readonly partition: number;
  /** pending until the callback; acked with the offset; otherwise the error code (outcome unknown). */
  outcome: { state: "pending" } | { state: "acked"; offset: number } | { state: "failed"; code: string };
}

const recordValue = (producer: number, seq: number): string => `p${producer}:s${seq}:${VALUE_PADDING}`;
const VALUE_PATTERN = /^p(\d+):s(\d+):/;

function parseValue(value: string): { producer: number; seq: number } | undefined {
  const match = VALUE_PATTERN.exec(value);
  return match ? { producer: Number(match[1]), seq: Number(match[2]) } : undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One producer's loop: sends until stopped, at most PRODUCER_WINDOW_RECORDS unsettled. */
class Writer {
  readonly sent: Sent[] = [];
  private unsettled = 0;
  private wake: (() => void) | undefined;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    readonly id: number,
    private readonly producer: Producer,
  ) {}

  start(): void {
    this.loop = this.run();
  }

  /** Stops sending; resolves when every record sent has settled, or after timeoutMs. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    await waitUntil(() => this.unsettled === 0, `producer ${this.id}'s records to settle`, timeoutMs, POLL_INTERVAL_MS).catch(() => {});
  }

  private async run(): Promise<void> {
    for (let seq = 0; !this.stopped && seq < RECORDS_PER_PRODUCER_MAX; seq++) {
      while (this.unsettled >= PRODUCER_WINDOW_RECORDS && !this.stopped) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
      }
      if (this.stopped) return;
      const sent: Sent = { producer: this.id, seq, partition: seq % PARTITIONS, outcome: { state: "pending" } };
      this.sent.push(sent);
      this.unsettled++;
      const accepted = this.producer.sendWithCallback(
        { topic: TOPIC, partition: sent.partition, key: `p${this.id}`, value: recordValue(this.id, seq) },
        (error, metadata) => {
          sent.outcome =
            error === null && metadata !== null
              ? { state: "acked", offset: metadata.offset }
              : { state: "failed", code: (error as { code?: string } | null)?.code ?? error?.name ?? "unknown" };
          this.unsettled--;
          const wake = this.wake;
          this.wake = undefined;
          wake?.();
        },
      );
      if (accepted !== undefined) await accepted;
      await sleep(PRODUCER_SEND_INTERVAL_MS);
    }
  }
}

/** Reads every partition while faults happen, remembering what it saw (it only ever sees records below the high watermark). */
class LiveReader {
  /** `${partition}:${offset}` -> value, as first read. */
  readonly seen = new Map<string, string>();
  /** The same offset read twice with different values. */
  readonly changed: string[] = [];
  errors = 0;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(private readonly consumer: Consumer) {}

  start(): void {
    const tps = Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: TOPIC, partition }));
    this.consumer.assign(tps);
    for (const tp of tps) this.consumer.seek(tp, 0);
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        for (const record of await this.consumer.poll(500)) {
          const key = `${record.partition}:${record.offset}`;
          const value = record.value?.toString("utf8") ?? "<null>";
          const before = this.seen.get(key);
          if (before === undefined) this.seen.set(key, value);
          else if (before !== value) this.changed.push(`${key}: first read ${before.slice(0, 16)}, later ${value.slice(0, 16)}`);
        }
      } catch {
        // The leader moved or is unreachable; the position is kept, so the next poll retries it.
        this.errors++;
        await sleep(POLL_INTERVAL_MS);
      }
    }
  }
}

/** A one-line account of the run, printed whatever the outcome. */
interface RunReport {
  seed: number;
  faults: Record<string, number>;
  nemesisErrors: number;
  acked: number;
  failed: Record<string, number>;
  pending: number;
  logRecords: number;
  duplicates: number;
  presentUnacked: number;
  liveRead: number;
  liveReadErrors: number;
}

describe("durability: acknowledged records survive kill -9, SIGSTOP and cut links", function () {
  this.timeout(FAULT_PHASE_MS + 240_000);
  let cluster: CastleCluster;
  let network: FaultNetwork;
  const clients: Array<{ close(): unknown }> = [];
  const logLines: string[] = [];
  const stoppedPids = new Set<number>();
  const timeline: string[] = [];
  const startedMs = Date.now();
  const note = (line: string): void => {
    const entry = `+${((Date.now() - startedMs) / 1000).toFixed(1)}s ${line}`;
    timeline.push(entry);
    console.log(`      ${entry}`);
  };

  const admin = (): Admin => {
    const made = new Admin({ bootstrap: cluster.bootstrap || bootstrapAll(), requestTimeoutMs: ADMIN_REQUEST_TIMEOUT_MS });
    clients.push(made);
    return made;
  };
  const bootstrapAll = (): string => cluster.nodes.map((n) => n.bootstrap).join(",");

  before(async function () {
    this.timeout(60_000);
    console.log(
      `      durability seed ${SEED} (replay: npm run test:chaos -- --seed ${SEED} --minutes ${(FAULT_PHASE_MS / 60_000).toFixed(2)})`,
    );
    cluster = await startCastleCluster({
      controllers: 3,
      faults: { seed: SEED },
      overrides: NODE_OVERRIDES,
      onLog: (id, line) => {
        if (logLines.length < LOG_LINES_MAX) logLines.push(`[${id}] ${line}`);
      },
    });
    network = cluster.faults as FaultNetwork;
    await cluster.waitReady("all");
    const setup = admin();
    await waitUntil(
      async () => {
        try {
          await setup.createTopics([
            { name: TOPIC, numPartitions: PARTITIONS, replicationFactor: 3, configs: { "min.insync.replicas": "2" } },
          ]);
          return true;
        } catch (error) {
          return (error as { code?: string }).code === "TOPIC_ALREADY_EXISTS" ? true : undefined;
        }
      },
      `topic ${TOPIC} to be created`,
      30_000,
      POLL_INTERVAL_MS,
    );
    await waitForFullIsr(setup, 30_000);
  });

  after(async () => {
    for (const pid of stoppedPids) resume(pid);
    for (const client of clients) {
      try {
        client.close();
      } catch {
        // Closing is best effort here; the cluster goes next either way.
      }
    }
    await cluster?.close();
  });

  function resume(pid: number): void {
    try {
      process.kill(pid, "SIGCONT");
    } catch {
      // The process is gone already.
    }
    stoppedPids.delete(pid);
  }

  async function waitForFullIsr(using: Admin, timeoutMs: number): Promise<TopicDescription> {
    let last = "no answer yet";
    try {
      return await waitUntil(
        async () => {
          try {
            const [topic] = await using.describeTopics([TOPIC]);
            last = JSON.stringify(topic?.partitions);
            const full = topic?.partitions.length === PARTITIONS && topic.partitions.every((p) => p.leader > 0 && p.isr.length === 3);
            return full ? topic : undefined;
          } catch (error) {
            last = (error as Error).message;
            return undefined;
          }
        },
        `every partition of ${TOPIC} to have a leader and a full ISR`,
        timeoutMs,
        POLL_INTERVAL_MS,
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}; last: ${last}`);
    }
  }

  /**
   * The node a step hits: the active controller, a partition's leader, or a node by number, by
   * the step's draws. Only the answer the cluster gives depends on the run, never the draws.
   */
  async function pickTarget(step: FaultStep, probe: Admin): Promise<{ id: number; why: string }> {
    try {
      if (step.aim === "controller") {
        const quorum = await probe.describeQuorum();
        if (quorum.leaderId > 0) return { id: quorum.leaderId, why: "active controller" };
      } else if (step.aim === "leader") {
        const [topic] = await probe.describeTopics([TOPIC]);
        const partition = topic?.partitions[step.partition];
        if (partition !== undefined && partition.leader > 0)
          return { id: partition.leader, why: `leader of ${TOPIC}-${partition.partition}` };
      }
    } catch {
      // No answer in a moment of turmoil: the step's node by number instead.
    }
    return { id: step.node, why: step.aim === "node" ? "by number" : `by number (no ${step.aim} known)` };
  }

  /** Injects faults one at a time until FAULT_PHASE_MS has passed; returns faults by kind and errors. */
  async function runNemesis(schedule: Iterator<FaultStep>): Promise<{ faults: Record<string, number>; errors: number }> {
    const faults: Record<string, number> = {};
    let errors = 0;
    const probe = admin();
    const endMs = Date.now() + FAULT_PHASE_MS;
    for (let count = 0; count < FAULT_STEPS_MAX && Date.now() < endMs; count++) {
      const step = schedule.next().value as FaultStep;
      const { kind, holdMs } = step;
      const target = await pickTarget(step, probe);
      const others = NODE_IDS.filter((id) => id !== target.id).map(String);
      const self = String(target.id);
      faults[kind] = (faults[kind] ?? 0) + 1;
      try {
        if (kind === "kill") {
          note(`kill -9 node ${target.id} (${target.why}) for ${holdMs} ms`);
          await cluster.kill(target.id);
          await sleep(holdMs);
          await cluster.start(target.id);
          await cluster.waitReady(target.id, NODE_READY_TIMEOUT_MS);
          note(`node ${target.id} restarted and ready`);
        } else if (kind === "pause") {
          const pid = cluster.node(target.id).pid;
          if (pid === undefined) throw new Error(`node ${target.id} is not running`);
          note(`SIGSTOP node ${target.id} (${target.why}) for ${holdMs} ms`);
          process.kill(pid, "SIGSTOP");
          stoppedPids.add(pid);
          await sleep(holdMs);
          resume(pid);
          note(`SIGCONT node ${target.id}`);
        } else if (kind === "partition") {
          note(`partition node ${target.id} (${target.why}) from nodes ${others.join(",")} for ${holdMs} ms; clients still reach it`);
          network.partition([self], others);
          await sleep(holdMs);
          network.healAll();
          note("healed");
        } else {
          const other = others[step.peer % others.length] as string;
          const [from, to] = step.outbound ? [self, other] : [other, self];
          note(`cut ${from} -> ${to} one way (node ${target.id}: ${target.why}) for ${holdMs} ms`);
          network.cutOneWay(from, to);
          await sleep(holdMs);
          network.healAll();
          note("healed");
        }
      } catch (error) {
        errors++;
        note(`nemesis step failed: ${(error as Error).message.split("\n")[0]}`);
      }
      await sleep(step.quietMs);
    }
    return { faults, errors };
  }

  /**
   * Heals every link, resumes every paused node, then restarts every node (kill -9) and waits
   * for a full ISR; returns why the ISR did not fill, or undefined.
   */
  async function recover(): Promise<string | undefined> {
    network.healAll();
    for (const pid of [...stoppedPids]) resume(pid);
    for (const id of NODE_IDS) {
      await cluster.kill(id);
      await cluster.start(id);
    }
    note("every node restarted");
    await cluster.waitReady("all", RECOVERY_TIMEOUT_MS);
    try {
      await waitForFullIsr(admin(), RECOVERY_TIMEOUT_MS);
      note("every node ready and every ISR full");
      return undefined;
    } catch (error) {
      // Reported with the history checks below, which still run against the partitions' leaders.
      note(`recovery incomplete: ${(error as Error).message}`);
      return (error as Error).message;
    }
  }

  /** The high watermarks once two reads a second apart agree (a new leader's may lag at first). */
  async function stableEndOffsets(consumer: Consumer): Promise<number[]> {
    const tps = Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: TOPIC, partition }));
    let previous = "";
    return waitUntil(
      async () => {
        try {
          const ends = await consumer.endOffsets(tps);
          const list = tps.map((tp) => ends.get(tpKey(tp)) ?? -1);
          const text = list.join(",");
          const stable = text === previous && list.every((end) => end >= 0);
          previous = text;
          if (!stable) await sleep(1_000);
          return stable ? list : undefined;
        } catch {
          await sleep(POLL_INTERVAL_MS);
          return undefined;
        }
      },
      "stable high watermarks",
      RECOVERY_TIMEOUT_MS,
      POLL_INTERVAL_MS,
    );
  }

  /** Every record of every partition from offset 0 to its end: partition -> offset -> value (missing offsets absent). */
  async function readAll(consumer: Consumer, ends: readonly number[]): Promise<Map<number, Map<number, string>>> {
    const log = new Map<number, Map<number, string>>();
    const tps = Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: TOPIC, partition }));
    consumer.assign(tps);
    for (const tp of tps) {
      consumer.seek(tp, 0);
      log.set(tp.partition, new Map());
    }
    const next = tps.map(() => 0);
    const deadline = Date.now() + READ_TIMEOUT_MS;
    while (next.some((offset, p) => offset < (ends[p] as number)) && Date.now() < deadline) {
      let records: Awaited<ReturnType<Consumer["poll"]>> = [];
      try {
        records = await consumer.poll(1_000);
      } catch {
        await sleep(POLL_INTERVAL_MS);
      }
      for (const record of records) {
        if (record.offset >= (ends[record.partition] as number)) continue;
        log.get(record.partition)?.set(record.offset, record.value?.toString("utf8") ?? "<null>");
        next[record.partition] = Math.max(next[record.partition] as number, record.offset + 1);
      }
    }
    return log;
  }

  /** On failure: the nemesis timeline, and every node log line kept, in a file named by the seed. */
  function dumpDiagnosis(): void {
    const file = join(tmpdir(), `castle-durability-seed-${SEED}-${Date.now()}.log`);
    writeFileSync(file, `${timeline.join("\n")}\n\n${logLines.join("\n")}\n`);
    console.log(`      seed ${SEED} failed; nemesis timeline:\n        ${timeline.join("\n        ")}`);
    console.log(`      every node log line kept (${logLines.length}) is in ${file}`);
  }

  it(`keeps every acknowledged record, in order, without gaps (seed ${SEED})`, async () => {
    try {
      await runAndCheck();
    } catch (error) {
      dumpDiagnosis();
      throw error;
    }
  });

  async function runAndCheck(): Promise<void> {
    const bootstrap = bootstrapAll();
    const writers = Array.from({ length: PRODUCERS }, (_, i) => {
      const producer = new Producer({
        bootstrap,
        clientId: `durability-p${i + 1}`,
        acks: "all",
        maxInFlightRequests: 1,
        requestTimeoutMs: PRODUCER_REQUEST_TIMEOUT_MS,
        deliveryTimeoutMs: PRODUCER_DELIVERY_TIMEOUT_MS,
        maxBlockMs: PRODUCER_DELIVERY_TIMEOUT_MS,
        retryBackoffMs: 100,
        retryBackoffMaxMs: 1_000,
      });
      clients.push({ close: () => producer.close({ timeoutMs: 1_000 }) });
      return new Writer(i + 1, producer);
    });
    const liveConsumer = new Consumer({ bootstrap, clientId: "durability-live", autoOffsetReset: "none", requestTimeoutMs: 5_000 });
    clients.push(liveConsumer);
    const live = new LiveReader(liveConsumer);

    for (const writer of writers) writer.start();
    live.start();
    note(`${PRODUCERS} producers and a live consumer started; faults for ${FAULT_PHASE_MS} ms`);
    const nemesis = await runNemesis(faultSchedule(SEED));
    note(`nemesis done: ${JSON.stringify(nemesis.faults)}`);

    network.healAll();
    for (const pid of [...stoppedPids]) resume(pid);
    await Promise.all(writers.map((writer) => writer.stop(SETTLE_TIMEOUT_MS)));
    await live.stop();
    note("producers and live consumer stopped");
    const unrecovered = await recover();

    const reader = new Consumer({ bootstrap, clientId: "durability-check", autoOffsetReset: "none", requestTimeoutMs: 5_000 });
    clients.push(reader);
    const ends = await stableEndOffsets(reader);
    note(`high watermarks ${ends.join(",")}`);
    const log = await readAll(reader, ends);

    // ---- the checks ----
    const gaps: string[] = [];
    const unparsable: string[] = [];
    const lostAcked: string[] = [];
    const misplacedAcked: string[] = [];
    const outOfOrder: string[] = [];
    const liveLost: string[] = [];
    let duplicates = 0;
    let logRecords = 0;
    const present = new Set<string>();

    for (let partition = 0; partition < PARTITIONS; partition++) {
      const records = log.get(partition) ?? new Map<number, string>();
      const end = ends[partition] as number;
      logRecords += records.size;
      let missing = 0;
      let firstMissing = -1;
      for (let offset = 0; offset < end; offset++) {
        if (!records.has(offset)) {
          missing++;
          if (firstMissing < 0) firstMissing = offset;
        }
      }
      if (missing > 0) gaps.push(`${TOPIC}-${partition}: ${missing} of offsets 0..${end - 1} not read, the first ${firstMissing}`);
      // Per producer: the highest sequence seen so far; a new sequence must be above it.
      const highest = new Map<number, number>();
      const seen = new Set<string>();
      for (const [offset, value] of [...records].sort((a, b) => a[0] - b[0])) {
        const id = parseValue(value);
        if (id === undefined) {
          unparsable.push(`${TOPIC}-${partition}@${offset}: ${value.slice(0, 32)}`);
          continue;
        }
        const name = `${id.producer}:${id.seq}`;
        present.add(name);
        if (seen.has(name)) {
          duplicates++;
          continue;
        }
        seen.add(name);
        const top = highest.get(id.producer) ?? -1;
        if (id.seq < top) outOfOrder.push(`${TOPIC}-${partition}@${offset}: p${id.producer} s${id.seq} after s${top}`);
        else highest.set(id.producer, id.seq);
      }
    }

    const failed: Record<string, number> = {};
    let acked = 0;
    let pending = 0;
    let presentUnacked = 0;
    for (const writer of writers) {
      for (const sent of writer.sent) {
        const name = `${sent.producer}:${sent.seq}`;
        if (sent.outcome.state === "pending") {
          pending++;
          continue;
        }
        if (sent.outcome.state === "failed") {
          failed[sent.outcome.code] = (failed[sent.outcome.code] ?? 0) + 1;
          if (present.has(name)) presentUnacked++;
          continue;
        }
        acked++;
        const at = log.get(sent.partition)?.get(sent.outcome.offset);
        const where = `p${sent.producer} s${sent.seq} acked at ${TOPIC}-${sent.partition}@${sent.outcome.offset}`;
        if (at === undefined) lostAcked.push(`${where}: nothing there (high watermark ${ends[sent.partition]})`);
        else if (at !== recordValue(sent.producer, sent.seq)) misplacedAcked.push(`${where}: holds ${at.slice(0, 16)} instead`);
      }
    }

    for (const [key, value] of live.seen) {
      const [partition, offset] = key.split(":").map(Number) as [number, number];
      const now = log.get(partition)?.get(offset);
      if (now !== value) liveLost.push(`${TOPIC}-${key}: read ${value.slice(0, 16)} during the run, now ${now?.slice(0, 16) ?? "nothing"}`);
    }

    const report: RunReport = {
      seed: SEED,
      faults: nemesis.faults,
      nemesisErrors: nemesis.errors,
      acked,
      failed,
      pending,
      logRecords,
      duplicates,
      presentUnacked,
      liveRead: live.seen.size,
      liveReadErrors: live.errors,
    };
    console.log(`      durability report: ${JSON.stringify(report)}`);

    const violations: Array<[string, string[]]> = [
      ["failures to refill every ISR after every fault healed", unrecovered === undefined ? [] : [unrecovered]],
      ["acknowledged records missing", lostAcked],
      ["acknowledged records overwritten", misplacedAcked],
      ["offset gaps", gaps],
      ["records out of per-producer order", outOfOrder],
      ["records the live consumer read that changed or vanished", liveLost],
      ["offsets the live consumer read twice with different values", live.changed],
      ["records not written by this test", unparsable],
    ];
    for (const [what, list] of violations) {
      expect(list, `seed ${SEED}: ${list.length} ${what}:\n${list.slice(0, VIOLATIONS_SHOWN_MAX).join("\n")}`).to.deep.equal([]);
    }
    expect(acked, `seed ${SEED}: the run acknowledged records (a run with none proves nothing)`).to.be.greaterThan(0);
    expect(pending, `seed ${SEED}: every send settled within the delivery timeout`).to.equal(0);
    // Clients reached the cluster through the client endpoint's proxies only.
    expect(network.link(FAULT_CLIENT_ENDPOINT, "1", "client").stats.accepted, "clients went through the proxies").to.be.greaterThan(0);
  }
});

// Deterministic fakes for the group coordinator's ports: timers that fire only when a test
// advances a ManualClock, an in-memory __consumer_offsets that can be made to fail or block,
// a logger that records, and request builders with a consumer's usual values.

import { type LogFields, type Logger, ManualClock } from "@castle/common";
import {
  ErrorCode,
  encodeConsumerAssignment,
  encodeConsumerSubscription,
  type HeartbeatRequest,
  type JoinGroupRequest,
  type JoinGroupResponseInput,
  type OffsetCommitRequest,
  protocolError,
  type SyncGroupRequest,
} from "@castle/protocol";
import { expect } from "chai";
import { defaultGroupCoordinatorConfig, type GroupCoordinatorConfig } from "../../src/group/group-config.js";
import { GroupCoordinator } from "../../src/group/group-coordinator.js";
import type { OffsetsLog, OffsetsLogRecord, TimerHandle, Timers } from "../../src/group/group-ports.js";

/** Timers over a ManualClock: callbacks run inside `advance`, in due order (then creation order). */
export class ManualTimers implements Timers {
  private nextId = 1;
  private readonly scheduled = new Map<number, { dueMs: number; callback: () => void }>();

  constructor(readonly clock: ManualClock) {}

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.scheduled.set(id, { dueMs: this.clock.monotonicMs() + ms, callback });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.scheduled.delete(handle as number);
  }

  /** Moves the clock forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const targetMs = this.clock.monotonicMs() + ms;
    for (;;) {
      let next: [number, { dueMs: number; callback: () => void }] | undefined;
      for (const entry of this.scheduled) {
        if (entry[1].dueMs > targetMs) continue;
        if (!next || entry[1].dueMs < next[1].dueMs) next = entry;
      }
      if (!next) break;
      this.scheduled.delete(next[0]);
      this.clock.advance(Math.max(0, next[1].dueMs - this.clock.monotonicMs()));
      next[1].callback();
    }
    this.clock.advance(targetMs - this.clock.monotonicMs());
  }

  get pending(): number {
    return this.scheduled.size;
  }
}

/** __consumer_offsets in memory. Appends can be made to fail (once each) or to wait for a release. */
export class FakeOffsetsLog implements OffsetsLog {
  private readonly partitions = new Map<number, OffsetsLogRecord[]>();
  private readonly failures: unknown[] = [];
  private appendGate: Promise<void> | undefined;
  private readGate: Promise<void> | undefined;
  appends = 0;

  async append(partition: number, records: readonly OffsetsLogRecord[]): Promise<void> {
    this.appends += 1;
    const failure = this.failures.shift();
    if (this.appendGate) await this.appendGate;
    if (failure !== undefined) throw failure;
    this.recordsOf(partition).push(...records);
  }

  async *readAll(partition: number): AsyncIterable<OffsetsLogRecord> {
    if (this.readGate) await this.readGate;
    for (const record of [...this.recordsOf(partition)]) yield record;
  }

  /** The next append (decided when it is called) rejects with `error`. */
  failNextAppend(error: unknown = protocolError("REQUEST_TIMED_OUT", "the ISR did not acknowledge in time")): void {
    this.failures.push(error);
  }

  /** Appends wait until the returned function is called. */
  blockAppends(): () => void {
    let release = (): void => {};
    this.appendGate = new Promise<void>((resolve) => {
      release = () => {
        this.appendGate = undefined;
        resolve();
      };
    });
    return release;
  }

  /** readAll waits until the returned function is called. */
  blockReads(): () => void {
    let release = (): void => {};
    this.readGate = new Promise<void>((resolve) => {
      release = () => {
        this.readGate = undefined;
        resolve();
      };
    });
    return release;
  }

  recordsOf(partition: number): OffsetsLogRecord[] {
    let records = this.partitions.get(partition);
    if (!records) {
      records = [];
      this.partitions.set(partition, records);
    }
    return records;
  }
}

export interface LogLine {
  readonly level: string;
  readonly message: string;
  readonly fields: LogFields;
}

export class RecordingLogger implements Logger {
  readonly lines: LogLine[] = [];
  debug(message: string, fields: LogFields = {}): void {
    this.lines.push({ level: "debug", message, fields });
  }
  info(message: string, fields: LogFields = {}): void {
    this.lines.push({ level: "info", message, fields });
  }
  warn(message: string, fields: LogFields = {}): void {
    this.lines.push({ level: "warn", message, fields });
  }
  error(message: string, fields: LogFields = {}): void {
    this.lines.push({ level: "error", message, fields });
  }
  child(): Logger {
    return this;
  }
  at(level: string): LogLine[] {
    return this.lines.filter((l) => l.level === level);
  }
}

/** Partitions of the fake __consumer_offsets; "g" and most test groups hash to one of them. */
export const PARTITIONS = 4;

/** Kafka's defaults (the initial rebalance delay included: the first join waits 3 s of manual time). */
export const testConfig: GroupCoordinatorConfig = defaultGroupCoordinatorConfig;

export interface Harness {
  readonly config: GroupCoordinatorConfig;
  readonly clock: ManualClock;
  readonly timers: ManualTimers;
  readonly log: FakeOffsetsLog;
  readonly logger: RecordingLogger;
  readonly coordinator: GroupCoordinator;
}

export interface HarnessOptions {
  readonly config?: Partial<GroupCoordinatorConfig>;
  readonly log?: FakeOffsetsLog;
  readonly clock?: ManualClock;
  /** Partitions to elect (and wait for); all by default. */
  readonly elect?: readonly number[];
}

/** A coordinator over fresh fakes (or a given log: a second coordinator on the same data), elected and loaded. */
export async function startCoordinator(options: HarnessOptions = {}): Promise<Harness> {
  const clock = options.clock ?? new ManualClock();
  const timers = new ManualTimers(clock);
  const log = options.log ?? new FakeOffsetsLog();
  const logger = new RecordingLogger();
  let suffix = 0;
  const config = { ...testConfig, ...options.config };
  const coordinator = new GroupCoordinator({
    config,
    log,
    clock,
    timers,
    logger,
    offsetsPartitionCount: () => PARTITIONS,
    newMemberIdSuffix: () => `${++suffix}`,
  });
  const elect = options.elect ?? Array.from({ length: PARTITIONS }, (_, i) => i);
  for (const partition of elect) await coordinator.onElected(partition);
  return { config, clock, timers, log, logger, coordinator };
}

/** Lets pending promise continuations (appends, answers) run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Advances time in steps of `stepMs` until every promise has settled (at most `stepsMax` steps). */
export async function advanceUntilAnswered<T>(h: Harness, pending: readonly Promise<T>[], stepMs: number, stepsMax = 20): Promise<T[]> {
  let done = 0;
  for (const p of pending) void p.then(() => done++);
  await settle();
  for (let step = 0; done < pending.length && step < stepsMax; step++) {
    h.timers.advance(stepMs);
    await settle();
  }
  expect(done, "every call answered").to.equal(pending.length);
  return Promise.all(pending);
}

export const subscription = (topics: readonly string[]): Buffer => encodeConsumerSubscription({ topics: [...topics] });

export const assignment = (partitions: Readonly<Record<string, readonly number[]>>): Buffer =>
  encodeConsumerAssignment({ assignedPartitions: Object.entries(partitions).map(([topic, ps]) => ({ topic, partitions: [...ps] })) });

export function joinRequest(overrides: Partial<JoinGroupRequest> = {}): JoinGroupRequest {
  return {
    groupId: "g",
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 30_000,
    memberId: "",
    groupInstanceId: "",
    protocolType: "consumer",
    protocols: [{ name: "range", metadata: subscription(["t"]) }],
    clientId: "c",
    reason: "",
    ...overrides,
  };
}

export function syncRequest(overrides: Partial<SyncGroupRequest> = {}): SyncGroupRequest {
  return {
    groupId: "g",
    generationId: 1,
    memberId: "",
    groupInstanceId: "",
    protocolType: "",
    protocolName: "",
    assignments: [],
    ...overrides,
  };
}

export function heartbeatRequest(overrides: Partial<HeartbeatRequest> = {}): HeartbeatRequest {
  return { groupId: "g", generationId: 1, memberId: "", groupInstanceId: "", ...overrides };
}

export function commitRequest(
  offsets: Readonly<Record<string, Readonly<Record<number, number>>>>,
  overrides: Partial<OffsetCommitRequest> = {},
): OffsetCommitRequest {
  return {
    groupId: "g",
    generationId: -1,
    memberId: "",
    groupInstanceId: "",
    topics: Object.entries(offsets).map(([name, byPartition]) => ({
      name,
      partitions: Object.entries(byPartition).map(([partition, offset]) => ({
        partition: Number(partition),
        committedOffset: offset,
        committedLeaderEpoch: 3,
        metadata: "",
      })),
    })),
    ...overrides,
  };
}

/** A dynamic member's first JoinGroup: MEMBER_ID_REQUIRED with the id to join with. */
export async function memberIdFor(h: Harness, overrides: Partial<JoinGroupRequest> = {}): Promise<string> {
  const first = await h.coordinator.joinGroup(joinRequest({ ...overrides, memberId: "" }), "/10.0.0.1");
  expect(first.errorCode, first.errorMessage).to.equal(ErrorCode.MEMBER_ID_REQUIRED);
  expect(first.memberId).to.be.a("string").and.not.equal("");
  return first.memberId as string;
}

export function expectOk(response: { errorCode?: number; errorMessage?: string }, what = "response"): void {
  expect(response.errorCode ?? 0, `${what}: ${response.errorMessage}`).to.equal(ErrorCode.NONE);
}

export function expectError(response: { errorCode?: number; errorMessage?: string }, code: number, pattern?: RegExp): void {
  expect(response.errorCode, response.errorMessage).to.equal(code);
  if (pattern) expect(response.errorMessage).to.match(pattern);
}

/**
 * Brings `count` dynamic members into a new group ("g" unless overridden) and through join and
 * sync to generation 1, the leader assigning `assignments[i]` to the i-th member. Time advances
 * past the initial rebalance delay.
 */
export async function stableGroup(
  h: Harness,
  count: number,
  assignments: readonly Buffer[] = [],
  overrides: Partial<JoinGroupRequest> = {},
): Promise<{ memberIds: string[]; leader: string; generationId: number; joins: JoinGroupResponseInput[] }> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) ids.push(await memberIdFor(h, { ...overrides, clientId: `c${i}` }));
  const joining = ids.map((memberId, i) =>
    h.coordinator.joinGroup(joinRequest({ ...overrides, memberId, clientId: `c${i}` }), "/10.0.0.1"),
  );
  const joins = await advanceUntilAnswered(h, joining, Math.max(1, h.config.groupInitialRebalanceDelayMs));
  for (const join of joins) expectOk(join, "join");
  const generationId = joins[0]?.generationId as number;
  const leader = joins[0]?.leader as string;
  const byId = new Map(ids.map((id, i) => [id, assignments[i] ?? assignment({})]));
  const syncs = ids.map((memberId) =>
    h.coordinator.syncGroup(
      syncRequest({
        groupId: overrides.groupId ?? "g",
        generationId,
        memberId,
        assignments: memberId === leader ? [...byId].map(([id, bytes]) => ({ memberId: id, assignment: bytes })) : [],
      }),
    ),
  );
  for (const sync of await Promise.all(syncs)) expectOk(sync, "sync");
  return { memberIds: ids, leader, generationId, joins };
}

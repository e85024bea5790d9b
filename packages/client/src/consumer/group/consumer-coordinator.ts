// The consumer's side of a group (Kafka's ConsumerCoordinator): the subscription (topics or a
// pattern), when to rejoin, what to give up before and after a rebalance, offset commits and
// the rebalance listener. GroupMembership does the protocol; the Consumer owns positions and
// fetching and is reached through CoordinatorHost.
//
// Everything that changes the assignment or calls the listener runs inside poll(),
// unsubscribe(), commitSync() or close(), never from a timer: heartbeats only set flags
// (rejoin, lost, fatal) that the next poll() acts on.
//
// Before rejoining, auto-commit every owned partition (both protocols, as Kafka does). Eager
// protocol: then revoke every owned partition; after sync, assign the new ones. Cooperative
// (KIP-429): keep owned partitions, and keep fetching them, while rejoining; after sync revoke
// only what moved (committing first any progress made during the rebalance) and rejoin at
// once so the withheld partitions get assigned.
//
// A coordinator may refuse offsets of partitions not assigned to the member in its current
// generation (Castle's does, with ILLEGAL_GENERATION), which is what a commit of partitions
// revoked by a cooperative rebalance looks like. Such an answer fences the member only when it
// concerns partitions the current generation assigned it; otherwise it fails just that commit.

import type { Clock, Logger } from "@castle/common";
import { type MetadataResponse, ProtocolError, protocolError } from "@castle/protocol";
import { errorFromWire, isRetriableError, retryBackoffMs } from "../../errors/wire-error.js";
import { formatTp, type TopicPartition, tpKey } from "../subscription-state.js";
import { GroupMembership, type JoinOutcome } from "./group-membership.js";
import type { ResolvedGroupOptions } from "./group-options.js";
import type { GroupTransport } from "./group-transport.js";
import { type MemberErrorAction, memberErrorAction } from "./member-state.js";
import {
  type CommitIdentity,
  type CommittedOffset,
  OffsetCommitter,
  type OffsetToCommit,
  type PartitionCommitError,
} from "./offset-committer.js";
import type { ConsumerRebalanceListener } from "./rebalance-listener.js";

/** What the coordinator needs from the Consumer that owns it. */
export interface CoordinatorHost {
  /** The partitions the consumer owns now. */
  owned(): TopicPartition[];
  /** Replaces the owned partitions; kept ones keep their positions, new ones wait for their committed offsets. */
  setOwned(tps: readonly TopicPartition[]): void;
  /** What a commit of `tps` carries: the offset of the next record poll() returns, for partitions with a position. */
  consumedOffsets(tps: readonly TopicPartition[]): OffsetToCommit[];
}

export interface CoordinatorTransport extends GroupTransport {
  /** Metadata for `topics` (empty = every topic). */
  fetchMetadata(topics: readonly string[]): Promise<MetadataResponse>;
}

export interface ConsumerCoordinatorOptions extends ResolvedGroupOptions {
  groupId: string;
  requestTimeoutMs: number;
  retryBackoffMs: number;
}

export interface ConsumerCoordinatorDeps {
  transport: CoordinatorTransport;
  host: CoordinatorHost;
  logger: Logger;
  clock: Clock;
}

/** Called once an async commit completes; `error` is undefined on success. */
export type OffsetCommitCallback = (error: Error | undefined, offsets: OffsetToCommit[]) => void;

type Subscription =
  | { kind: "topics"; topics: readonly string[] }
  /** `matched` is undefined until the pattern was first matched against the cluster's topics. */
  | { kind: "pattern"; pattern: RegExp; matched: readonly string[] | undefined };

const RETRY_BACKOFF_MAX_MS = 1000;

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameCounts(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): boolean {
  return a.size === b.size && [...a].every(([topic, count]) => b.get(topic) === count);
}

function minus(tps: readonly TopicPartition[], remove: readonly TopicPartition[]): TopicPartition[] {
  const removed = new Set(remove.map(tpKey));
  return tps.filter((tp) => !removed.has(tpKey(tp)));
}

export class ConsumerCoordinator {
  private readonly membership: GroupMembership;
  private readonly committer: OffsetCommitter;
  private subscription: Subscription | undefined;
  private listener: ConsumerRebalanceListener = {};
  private joinTask: Promise<JoinOutcome> | undefined;
  /** The settled result of joinTask, waiting for poll() to apply it. */
  private joinResult: JoinOutcome | undefined;
  private joinFailures = 0;
  private nextJoinAtMs = 0;
  private nextAutoCommitAtMs: number;
  private nextMetadataCheckAtMs = 0;
  private leaderPartitionCounts: ReadonlyMap<string, number> | undefined;
  /** tpKeys the coordinator assigned this member in its current generation (fencing errors count only for these). */
  private generationAssigned = new Set<string>();
  /** The last offset committed per owned partition (tpKey), so revocation commits only progress. */
  private readonly lastCommitted = new Map<string, number>();
  private readonly asyncCommits = new Set<Promise<void>>();
  private readonly wakeups = new Set<() => void>();
  private callbackErrors: unknown[] = [];
  private closed = false;

  constructor(
    private readonly options: ConsumerCoordinatorOptions,
    private readonly deps: ConsumerCoordinatorDeps,
  ) {
    this.committer = new OffsetCommitter(options.groupId, deps.transport);
    this.membership = new GroupMembership(
      {
        groupId: options.groupId,
        groupInstanceId: options.groupInstanceId,
        sessionTimeoutMs: options.sessionTimeoutMs,
        maxPollIntervalMs: options.maxPollIntervalMs,
        heartbeatIntervalMs: options.heartbeatIntervalMs,
        requestTimeoutMs: options.requestTimeoutMs,
        assignors: options.assignors,
        rackId: options.clientRack,
      },
      {
        transport: deps.transport,
        logger: deps.logger,
        clock: deps.clock,
        subscription: () => ({ topics: this.subscribedTopics(), ownedPartitions: deps.host.owned() }),
        partitionCounts: (topics) => this.partitionCounts(topics),
      },
    );
    this.nextAutoCommitAtMs = deps.clock.monotonicMs() + options.autoCommitIntervalMs;
  }

  private now(): number {
    return this.deps.clock.monotonicMs();
  }

  get isSubscribed(): boolean {
    return this.subscription !== undefined;
  }

  /** The member's state, for tests and diagnostics. */
  get member(): Readonly<{ phase: string; memberId: string; generationId: number; protocolName: string; isLeader: boolean }> {
    const s = this.membership.state;
    return { phase: s.phase, memberId: s.memberId, generationId: s.generationId, protocolName: s.protocolName, isLeader: s.isLeader };
  }

  /** The topics subscribed to: the list given, or the topics the pattern matched last. */
  subscribedTopics(): string[] {
    const s = this.subscription;
    if (s === undefined) return [];
    return s.kind === "topics" ? [...s.topics] : [...(s.matched ?? [])];
  }

  subscribe(target: readonly string[] | RegExp, listener: ConsumerRebalanceListener): void {
    this.listener = listener;
    const current = this.subscription;
    if (target instanceof RegExp) {
      // Stateless matching: a /g or /y pattern's lastIndex would make test() skip topics.
      const pattern = new RegExp(target.source, target.flags.replace(/[gy]/g, ""));
      if (current?.kind === "pattern" && current.pattern.source === pattern.source && current.pattern.flags === pattern.flags) return;
      this.subscription = { kind: "pattern", pattern, matched: undefined };
      this.nextMetadataCheckAtMs = 0;
      this.membership.state.requestRejoin("the subscription changed");
      return;
    }
    const topics = [...new Set(target)].sort();
    if (current?.kind === "topics" && sameList(current.topics, topics)) return;
    this.subscription = { kind: "topics", topics };
    this.membership.state.requestRejoin("the subscription changed");
  }

  /**
   * Drives the group inside poll(): gives up lost partitions, re-checks metadata when due,
   * starts a join when one is needed, applies a finished one (revocations, assignment,
   * callbacks), and auto-commits when due. Waits for a running join up to `timeoutMs` unless
   * the consumer has partitions to fetch meanwhile (cooperative). Throws fatal errors, errors
   * from listener callbacks, and join errors the application must see.
   */
  async poll(timeoutMs: number): Promise<void> {
    if (this.closed) return;
    const deadlineMs = this.now() + Math.max(0, timeoutMs);
    if (this.membership.fatal) {
      await this.maybeGiveUpLost();
      throw this.membership.fatal;
    }
    const reported = this.membership.takeReportedError();
    if (reported) throw reported;
    if (this.subscription === undefined) {
      this.maybeAutoCommit();
      return;
    }
    this.membership.notePoll();
    await this.maybeGiveUpLost();
    await this.maybeCheckMetadata();
    const state = this.membership.state;
    const canJoin = this.subscription.kind === "topics" || this.subscription.matched !== undefined;
    if (this.joinTask === undefined && state.needsJoin() && canJoin && this.now() >= this.nextJoinAtMs && !this.closed) {
      await this.onJoinPrepare();
      if (!this.closed && this.subscription !== undefined && this.joinTask === undefined) this.startJoin();
    }
    if (this.joinTask !== undefined) {
      const fetchMeanwhile = this.options.rebalanceProtocol === "COOPERATIVE" && this.deps.host.owned().length > 0;
      const waitMs = fetchMeanwhile ? 0 : deadlineMs - this.now();
      if (this.joinResult === undefined && waitMs > 0) await this.wait(waitMs);
      const outcome = this.joinResult;
      if (outcome !== undefined && !this.closed) {
        this.joinTask = undefined;
        this.joinResult = undefined;
        await this.onJoinComplete(outcome);
      }
    } else if (state.needsJoin() && this.deps.host.owned().length === 0) {
      const waitMs = Math.min(this.nextJoinAtMs, deadlineMs) - this.now();
      if (waitMs > 0) await this.wait(waitMs);
    }
    if (state.phase === "stable") this.maybeAutoCommit();
    this.throwCallbackErrors();
  }

  private startJoin(): void {
    this.joinResult = undefined;
    const task = this.membership.joinAndSync().catch(
      (error: unknown): JoinOutcome => ({
        kind: "failed",
        error: error instanceof Error ? error : new Error(String(error)),
        rejoinNow: false,
      }),
    );
    this.joinTask = task;
    void task.then((outcome) => {
      if (this.joinTask !== task) return;
      this.joinResult = outcome;
      this.wake();
    });
  }

  /** Resolves after `ms`, or sooner on wake() (a join finished, or close()). */
  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeups.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.wakeups.add(done);
    });
  }

  /** Ends a wait in poll() at once (close() is coming). */
  wakeup(): void {
    this.wake();
  }

  private wake(): void {
    for (const done of [...this.wakeups]) done();
  }

  private async onJoinPrepare(): Promise<void> {
    const owned = this.deps.host.owned();
    if (owned.length === 0) return;
    await this.maybeAutoCommitSync(owned, this.options.requestTimeoutMs, "before rejoining");
    if (this.options.rebalanceProtocol === "EAGER") {
      await this.revoke(owned, { commit: false });
      return;
    }
    const topics = new Set(this.subscribedTopics());
    const unsubscribed = owned.filter((tp) => !topics.has(tp.topic));
    if (unsubscribed.length > 0) await this.revoke(unsubscribed, { commit: false });
  }

  private async onJoinComplete(outcome: JoinOutcome): Promise<void> {
    if (outcome.kind === "failed") {
      await this.maybeGiveUpLost();
      if (this.membership.fatal) throw this.membership.fatal;
      this.joinFailures++;
      const backoffMs = outcome.rejoinNow ? 0 : retryBackoffMs(this.joinFailures, this.options.retryBackoffMs, RETRY_BACKOFF_MAX_MS);
      this.nextJoinAtMs = this.now() + backoffMs;
      this.deps.logger.debug("group join failed; will retry", { groupId: this.options.groupId, error: outcome.error.message, backoffMs });
      if (!outcome.rejoinNow && !isRetriableError(outcome.error)) throw outcome.error;
      return;
    }
    this.joinFailures = 0;
    const { assigned, leaderPartitionCounts } = outcome.assignment;
    this.leaderPartitionCounts = leaderPartitionCounts;
    const owned = this.deps.host.owned();
    const revoked = minus(owned, assigned);
    const added = minus(assigned, owned);
    this.generationAssigned = new Set(assigned.map(tpKey));
    if (revoked.length > 0) {
      await this.revoke(revoked, { commit: true });
      this.membership.state.requestRejoin("partitions were revoked: rejoining so they can be assigned to other members");
    }
    this.deps.host.setOwned(assigned);
    for (const key of [...this.lastCommitted.keys()]) if (!this.generationAssigned.has(key)) this.lastCommitted.delete(key);
    this.deps.logger.info("partitions assigned", {
      groupId: this.options.groupId,
      generationId: outcome.assignment.generationId,
      assigned: assigned.map(formatTp),
      revoked: revoked.map(formatTp),
    });
    await this.invoke("onPartitionsAssigned", added);
    this.nextAutoCommitAtMs = this.now() + this.options.autoCommitIntervalMs;
  }

  /** With auto-commit, commits the progress made on `tps` since their last commit; failures are logged. */
  private async maybeAutoCommitSync(tps: readonly TopicPartition[], timeoutMs: number, when: string): Promise<void> {
    if (!this.options.enableAutoCommit || !this.canCommit()) return;
    const offsets = this.deps.host.consumedOffsets(tps).filter((o) => this.lastCommitted.get(tpKey(o)) !== o.offset);
    if (offsets.length === 0) return;
    try {
      await this.commitSync(offsets, timeoutMs);
    } catch (error) {
      this.deps.logger.warn(`offset commit ${when} failed`, { groupId: this.options.groupId, error: (error as Error).message });
    }
  }

  /** Commits (auto-commit, if `commit`) and revokes `tps` while they are still owned, then drops them. */
  private async revoke(tps: readonly TopicPartition[], options: { commit: boolean; timeoutMs?: number }): Promise<void> {
    if (options.commit) await this.maybeAutoCommitSync(tps, options.timeoutMs ?? this.options.requestTimeoutMs, "before revocation");
    await this.invoke("onPartitionsRevoked", [...tps]);
    this.deps.host.setOwned(minus(this.deps.host.owned(), tps));
  }

  /** Partitions whose generation was reset are lost: no commit, onPartitionsLost, drop them. */
  private async maybeGiveUpLost(): Promise<void> {
    const reason = this.membership.state.takeLostReason();
    if (reason === undefined) return;
    const owned = this.deps.host.owned();
    if (owned.length === 0) return;
    this.deps.logger.warn("partitions lost", { groupId: this.options.groupId, partitions: owned.map(formatTp), reason });
    this.generationAssigned.clear();
    this.lastCommitted.clear();
    await this.invoke("onPartitionsLost", owned);
    this.deps.host.setOwned([]);
  }

  private async invoke(callback: keyof ConsumerRebalanceListener, tps: TopicPartition[]): Promise<void> {
    const listener = this.listener;
    const fn = listener[callback] ?? (callback === "onPartitionsLost" ? listener.onPartitionsRevoked : undefined);
    if (fn === undefined) return;
    try {
      await fn.call(
        listener,
        tps.map((tp) => ({ topic: tp.topic, partition: tp.partition })),
      );
    } catch (error) {
      this.deps.logger.error("rebalance listener callback failed", {
        groupId: this.options.groupId,
        callback,
        error: (error as Error)?.message,
      });
      this.callbackErrors.push(error);
    }
  }

  private throwCallbackErrors(): void {
    const [first] = this.callbackErrors;
    this.callbackErrors = [];
    if (first !== undefined) throw first;
  }

  private async maybeCheckMetadata(): Promise<void> {
    const subscription = this.subscription;
    if (subscription === undefined || this.now() < this.nextMetadataCheckAtMs) return;
    this.nextMetadataCheckAtMs = this.now() + this.options.metadataMaxAgeMs;
    try {
      if (subscription.kind === "pattern") {
        const response = await this.deps.transport.fetchMetadata([]);
        const matched = response.topics
          .filter((t) => t.errorCode === 0 && !t.isInternal && subscription.pattern.test(t.name))
          .map((t) => t.name)
          .sort();
        if (subscription.matched === undefined || !sameList(subscription.matched, matched)) {
          this.deps.logger.info("subscribed pattern matches", {
            groupId: this.options.groupId,
            pattern: String(subscription.pattern),
            topics: matched,
          });
          if (subscription.matched !== undefined) this.membership.state.requestRejoin("the topics matching the subscribed pattern changed");
          subscription.matched = matched;
        }
      }
      const counts = this.leaderPartitionCounts;
      if (counts !== undefined && this.membership.state.isLeader && this.membership.state.phase === "stable") {
        const now = await this.partitionCounts([...counts.keys()]);
        if (!sameCounts(counts, now)) this.membership.state.requestRejoin("the partitions of a subscribed topic changed");
      }
    } catch (error) {
      this.nextMetadataCheckAtMs = this.now() + this.options.retryBackoffMs;
      if (subscription.kind === "pattern" && subscription.matched === undefined) throw error;
      this.deps.logger.debug("metadata check failed", { groupId: this.options.groupId, error: (error as Error).message });
    }
  }

  /** Partition counts of `topics`, 0 for a topic that does not exist (the assignor skips it). */
  private async partitionCounts(topics: readonly string[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>(topics.map((t) => [t, 0]));
    if (topics.length === 0) return counts;
    const response = await this.deps.transport.fetchMetadata(topics);
    for (const t of response.topics) if (t.errorCode === 0 && counts.has(t.name)) counts.set(t.name, t.partitions.length);
    return counts;
  }

  private maybeAutoCommit(): void {
    if (!this.options.enableAutoCommit || this.now() < this.nextAutoCommitAtMs) return;
    this.nextAutoCommitAtMs = this.now() + this.options.autoCommitIntervalMs;
    if (!this.canCommit()) return;
    const offsets = this.deps.host.consumedOffsets(this.deps.host.owned());
    if (offsets.length === 0) return;
    this.commitAsync(offsets, (error) => {
      if (error) this.deps.logger.warn("auto-commit failed", { groupId: this.options.groupId, error: error.message });
    });
  }

  private canCommit(): boolean {
    if (this.subscription === undefined) return true;
    const state = this.membership.state;
    return state.inGeneration && !state.rebalancing;
  }

  /** Who the commit is from; throws when a member may not commit now. */
  private commitIdentity(): CommitIdentity {
    if (this.subscription === undefined) return { generationId: -1, memberId: "", groupInstanceId: "" };
    const state = this.membership.state;
    if (state.rebalancing) throw this.rebalanceInProgressError();
    if (!state.inGeneration) {
      throw protocolError(
        "UNKNOWN_MEMBER_ID",
        `cannot commit offsets in group '${this.options.groupId}': this consumer is not a member of the group's current generation (it has not joined yet, or it was removed); call poll() to rejoin — the partitions may now belong to another member`,
      );
    }
    return { generationId: state.generationId, memberId: state.memberId, groupInstanceId: this.options.groupInstanceId ?? "" };
  }

  private rebalanceInProgressError(): ProtocolError {
    return protocolError(
      "REBALANCE_IN_PROGRESS",
      `cannot commit offsets in group '${this.options.groupId}' while it rebalances: call poll() to complete the rebalance, then commit again (the offsets of partitions still assigned)`,
    );
  }

  /**
   * Applies what failed partitions mean to the membership; returns the error to raise. Fencing
   * errors on partitions this generation did not assign the member (e.g. just revoked) fail the
   * commit but do not reset the membership: the coordinator refuses those offsets, nothing more.
   */
  private commitFailure(failed: readonly PartitionCommitError[], identity: CommitIdentity): ProtocolError {
    const rank = (action: MemberErrorAction): number =>
      ({ fenced: 0, "reset-member": 1, "reset-generation": 2, rejoin: 3, report: 4, retry: 5, none: 6 })[action];
    const fencing = (f: PartitionCommitError): boolean => rank(memberErrorAction(f.errorCode)) <= 2;
    const notAssigned =
      this.subscription !== undefined ? failed.filter((f) => fencing(f) && !this.generationAssigned.has(tpKey(f.tp))) : [];
    const counted = failed.filter((f) => !notAssigned.includes(f));
    const partitions = failed.map((f) => formatTp(f.tp)).join(", ");
    const what = `commit offsets of ${partitions} in group '${this.options.groupId}'`;
    if (counted.length === 0) {
      const first = notAssigned[0] as PartitionCommitError;
      return errorFromWire(
        first.errorCode,
        `${first.errorMessage || "refused"}: ${notAssigned.map((f) => formatTp(f.tp)).join(", ")} ${notAssigned.length === 1 ? "is" : "are"} not assigned to this member in generation ${identity.generationId}, so the coordinator refuses ${notAssigned.length === 1 ? "its offset" : "their offsets"}`,
        what,
      );
    }
    const worst = [...counted].sort(
      (a, b) => rank(memberErrorAction(a.errorCode)) - rank(memberErrorAction(b.errorCode)),
    )[0] as PartitionCommitError;
    const action = memberErrorAction(worst.errorCode);
    if (this.subscription !== undefined) {
      if (action === "rejoin") {
        this.membership.handleMemberError("OffsetCommit", worst.errorCode, worst.errorMessage, identity);
        return this.rebalanceInProgressError();
      }
      if (action === "reset-generation" || action === "reset-member" || action === "fenced") {
        this.membership.handleMemberError("OffsetCommit", worst.errorCode, worst.errorMessage, identity);
        if (this.membership.fatal) return this.membership.fatal;
        return errorFromWire(
          worst.errorCode,
          `${worst.errorMessage || "the member's generation is gone"}: the group rebalanced and the partitions may be assigned to another member, so the commit cannot complete; this usually means poll() was not called within maxPollIntervalMs — process fewer records per poll (maxPollRecords) or raise maxPollIntervalMs`,
          what,
        );
      }
    }
    return errorFromWire(worst.errorCode, worst.errorMessage, what);
  }

  private noteCommitted(offsets: readonly OffsetToCommit[], failed: readonly PartitionCommitError[]): void {
    const refused = new Set(failed.map((f) => tpKey(f.tp)));
    for (const o of offsets) if (!refused.has(tpKey(o))) this.lastCommitted.set(tpKey(o), o.offset);
  }

  /**
   * Commits `offsets` and waits for the answer, retrying retriable failures until `timeoutMs`
   * passes. Waits for earlier async commits first, so commits land in order.
   */
  async commitSync(offsets: readonly OffsetToCommit[], timeoutMs: number): Promise<void> {
    const deadline = this.now() + timeoutMs;
    await this.awaitAsyncCommits(deadline);
    if (offsets.length === 0) return;
    for (let tries = 1; ; tries++) {
      const identity = this.commitIdentity();
      let error: ProtocolError;
      try {
        const failed = await this.committer.commit(offsets, identity, Math.max(1, deadline - this.now()));
        this.noteCommitted(offsets, failed);
        if (failed.length === 0) return;
        error = this.commitFailure(failed, identity);
      } catch (thrown) {
        if (!(thrown instanceof ProtocolError)) throw thrown;
        error = thrown;
      }
      const remainingMs = deadline - this.now();
      if (!error.retriable || remainingMs <= 0 || this.closed) throw error;
      await this.wait(Math.min(remainingMs, retryBackoffMs(tries, this.options.retryBackoffMs, RETRY_BACKOFF_MAX_MS)));
    }
  }

  /** Sends one commit without waiting or retrying (Kafka's commitAsync); the outcome goes to `callback`, or to the log. */
  commitAsync(offsets: readonly OffsetToCommit[], callback?: OffsetCommitCallback): void {
    const list = [...offsets];
    const send = async (): Promise<void> => {
      if (list.length === 0) return;
      const identity = this.commitIdentity();
      const failed = await this.committer.commit(list, identity, this.options.requestTimeoutMs);
      this.noteCommitted(list, failed);
      if (failed.length > 0) throw this.commitFailure(failed, identity);
    };
    const done = (error: Error | undefined): void => {
      if (callback === undefined) {
        if (error) this.deps.logger.warn("async offset commit failed", { groupId: this.options.groupId, error: error.message });
        return;
      }
      try {
        callback(error, list);
      } catch (thrown) {
        this.deps.logger.error("offset commit callback threw", { groupId: this.options.groupId, error: (thrown as Error)?.message });
      }
    };
    const tracked: Promise<void> = send().then(
      () => done(undefined),
      (error: unknown) => done(error instanceof Error ? error : new Error(String(error))),
    );
    this.asyncCommits.add(tracked);
    void tracked.finally(() => this.asyncCommits.delete(tracked));
  }

  private async awaitAsyncCommits(deadlineMs: number): Promise<void> {
    if (this.asyncCommits.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([...this.asyncCommits]),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, Math.max(0, deadlineMs - this.now()));
      }),
    ]);
    clearTimeout(timer);
  }

  /** The group's committed offsets of `tps` (null where none), retrying retriable failures within `timeoutMs`. */
  async committed(tps: readonly TopicPartition[], timeoutMs: number): Promise<Map<string, CommittedOffset | null>> {
    const deadline = this.now() + timeoutMs;
    for (let tries = 1; ; tries++) {
      try {
        return await this.committer.fetch(tps, Math.max(1, deadline - this.now()));
      } catch (error) {
        const remainingMs = deadline - this.now();
        if (!isRetriableError(error) || remainingMs <= 0 || this.closed) throw error;
        await this.wait(Math.min(remainingMs, retryBackoffMs(tries, this.options.retryBackoffMs, RETRY_BACKOFF_MAX_MS)));
      }
    }
  }

  /** Revokes (committing first with auto-commit) every owned partition and leaves the group. */
  async unsubscribe(): Promise<void> {
    if (this.subscription === undefined) return;
    const owned = this.deps.host.owned();
    if (owned.length > 0) {
      if (this.membership.state.takeLostReason() !== undefined || !this.canCommit()) {
        await this.invoke("onPartitionsLost", owned);
        this.deps.host.setOwned([]);
      } else {
        await this.revoke(owned, { commit: true });
      }
    }
    this.subscription = undefined;
    this.generationAssigned.clear();
    this.lastCommitted.clear();
    this.joinTask = undefined;
    this.joinResult = undefined;
    this.leaderPartitionCounts = undefined;
    await this.membership.leaveGroup("the consumer unsubscribed", { lost: false, timeoutMs: this.options.requestTimeoutMs });
    this.membership.state.takeLostReason();
    this.throwCallbackErrors();
  }

  /**
   * Auto-commits and revokes owned partitions (or reports them lost if the generation is
   * gone), leaves the group (dynamic members only), and stops every timer, all by `deadlineMs`.
   * Errors are logged, not thrown.
   */
  async close(deadlineMs: number): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wake();
    const remaining = () => Math.max(1, deadlineMs - this.now());
    try {
      const owned = this.deps.host.owned();
      if (this.subscription !== undefined) {
        if (owned.length > 0) {
          if (this.membership.state.takeLostReason() !== undefined || !this.canCommit())
            await this.bounded(this.invoke("onPartitionsLost", owned), deadlineMs);
          else await this.bounded(this.revoke(owned, { commit: true, timeoutMs: remaining() }), deadlineMs);
        }
        await this.bounded(this.membership.leaveGroup("the consumer is closing", { lost: false, timeoutMs: remaining() }), deadlineMs);
      } else if (this.options.enableAutoCommit && owned.length > 0) {
        await this.bounded(this.commitSync(this.deps.host.consumedOffsets(owned), remaining()), deadlineMs);
      }
      await this.awaitAsyncCommits(deadlineMs);
    } catch (error) {
      this.deps.logger.warn("error while closing the group consumer", { groupId: this.options.groupId, error: (error as Error).message });
    } finally {
      this.callbackErrors = [];
      this.membership.close();
    }
  }

  /** Waits for `work` until `deadlineMs`; work still running then is left behind (the transport closes next). */
  private async bounded(work: Promise<unknown>, deadlineMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      work.then(
        () => undefined,
        (error: unknown) =>
          this.deps.logger.warn("group close step failed", { groupId: this.options.groupId, error: (error as Error)?.message }),
      ),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, Math.max(0, deadlineMs - this.now()));
      }),
    ]);
    clearTimeout(timer);
  }
}

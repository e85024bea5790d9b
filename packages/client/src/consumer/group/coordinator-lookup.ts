// Finding a group's coordinator and calling it: FindCoordinator to any broker names the broker
// that coordinates the group (the leader of the group's __consumer_offsets partition); the
// answer is cached per group until a call says it is stale. Shared by the group consumer and the
// Admin client (ClusterClient.groupCall), so both retry the same way.
//
// Re-lookup rules (Kafka's): NOT_COORDINATOR and COORDINATOR_NOT_AVAILABLE in an answer, or a
// transport failure (the node went away), forget the cached coordinator and look it up again;
// COORDINATOR_LOAD_IN_PROGRESS retries the same coordinator (it is reading the group from its
// log). Every retry waits an exponential, jittered back-off, and the whole call is bounded by
// `retryTimeoutMs`; when that runs out the last error is thrown (retriable, so callers may try
// again later).

import type { Logger } from "@castle/common";
import { silentLogger, sleep } from "@castle/common";
import { ErrorCode, type FindCoordinatorResponse, ProtocolError, protocolError } from "@castle/protocol";
import { errorFromWire, retryBackoffMs } from "../../errors/wire-error.js";

export interface GroupCoordinator {
  nodeId: number;
  host: string;
  port: number;
}

/** What an error code in a group call's answer says to do about the coordinator. */
export type CoordinatorErrorAction = "relookup" | "retry" | "none";

export function coordinatorErrorAction(code: number): CoordinatorErrorAction {
  switch (code) {
    case ErrorCode.NOT_COORDINATOR:
    case ErrorCode.COORDINATOR_NOT_AVAILABLE:
      return "relookup";
    case ErrorCode.COORDINATOR_LOAD_IN_PROGRESS:
      return "retry";
    default:
      return "none";
  }
}

/** The error a group call's answer carries that concerns the coordinator (undefined: none). */
export interface AnswerError {
  errorCode: number;
  errorMessage: string;
}

export interface CoordinatorCallOptions<Res> {
  /** Bound on the call including lookups, retries and back-off. */
  retryTimeoutMs: number;
  /**
   * The answer's coordinator-level error. Default: the answer's own errorCode/errorMessage (every
   * Group answer but OffsetCommit's, whose errors are per partition).
   */
  errorOf?: (response: Res) => AnswerError | undefined;
}

export interface CoordinatorLookupDeps {
  /** One FindCoordinator to any reachable broker. */
  find(groupId: string): Promise<FindCoordinatorResponse>;
  /** True once the owner is closed: calls stop retrying at once. */
  isClosed?(): boolean;
  logger?: Logger;
  sleep?(ms: number): Promise<void>;
  nowMs?(): number;
  random?(): number;
}

export interface CoordinatorLookupOptions {
  retryBackoffMs: number;
  retryBackoffMaxMs: number;
}

function defaultErrorOf(response: unknown): AnswerError | undefined {
  if (typeof response !== "object" || response === null) return undefined;
  const { errorCode, errorMessage } = response as Partial<AnswerError>;
  return typeof errorCode === "number" ? { errorCode, errorMessage: errorMessage ?? "" } : undefined;
}

/** Transport failures and deadlines: the coordinator may be gone, so look it up again. */
function isTransportFailure(error: unknown): error is ProtocolError {
  return error instanceof ProtocolError && (error.code === "NETWORK_EXCEPTION" || error.code === "REQUEST_TIMED_OUT");
}

export class CoordinatorLookup {
  private readonly known = new Map<string, GroupCoordinator>();
  private readonly lookups = new Map<string, Promise<GroupCoordinator>>();
  private readonly logger: Logger;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly nowMs: () => number;
  private readonly random: () => number;

  constructor(
    private readonly deps: CoordinatorLookupDeps,
    private readonly options: CoordinatorLookupOptions,
  ) {
    this.logger = deps.logger ?? silentLogger;
    this.sleep = deps.sleep ?? sleep;
    this.nowMs = deps.nowMs ?? Date.now;
    this.random = deps.random ?? Math.random;
  }

  /** The cached coordinator, if any. */
  cached(groupId: string): GroupCoordinator | undefined {
    return this.known.get(groupId);
  }

  /** Forgets the group's coordinator (only if it is still `nodeId`, when given: a newer answer wins). */
  invalidate(groupId: string, nodeId?: number): void {
    const current = this.known.get(groupId);
    if (current !== undefined && (nodeId === undefined || current.nodeId === nodeId)) this.known.delete(groupId);
  }

  /**
   * The group's coordinator: the cached one, else one FindCoordinator shared by every concurrent
   * caller. Throws the answer's error (COORDINATOR_NOT_AVAILABLE while __consumer_offsets is being
   * created is retriable; INVALID_GROUP_ID is not) or the transport's.
   */
  lookup(groupId: string): Promise<GroupCoordinator> {
    const known = this.known.get(groupId);
    if (known !== undefined) return Promise.resolve(known);
    let pending = this.lookups.get(groupId);
    if (pending === undefined) {
      pending = this.deps
        .find(groupId)
        .then((answer) => {
          if (answer.errorCode !== ErrorCode.NONE)
            throw errorFromWire(answer.errorCode, answer.errorMessage, `find the coordinator of group '${groupId}'`);
          const coordinator = { nodeId: answer.nodeId, host: answer.host, port: answer.port };
          this.known.set(groupId, coordinator);
          this.logger.debug("found group coordinator", { groupId, ...coordinator });
          return coordinator;
        })
        .finally(() => this.lookups.delete(groupId));
      this.lookups.set(groupId, pending);
    }
    return pending;
  }

  /**
   * Runs `attempt` against the group's coordinator, looking it up (again) and retrying with
   * back-off as the header describes, until an answer without a coordinator error arrives or
   * `retryTimeoutMs` passes. Other errors in the answer are the caller's to read.
   */
  async call<Res>(
    groupId: string,
    method: string,
    attempt: (coordinator: GroupCoordinator) => Promise<Res>,
    options: CoordinatorCallOptions<Res>,
  ): Promise<Res> {
    const errorOf = options.errorOf ?? defaultErrorOf;
    const deadline = this.nowMs() + Math.max(0, options.retryTimeoutMs);
    for (let tries = 1; ; tries++) {
      if (this.deps.isClosed?.()) throw protocolError("NETWORK_EXCEPTION", `${method} for group '${groupId}': the client is closed`);
      let failure: ProtocolError;
      let coordinator: GroupCoordinator | undefined;
      try {
        coordinator = await this.lookup(groupId);
        const response = await attempt(coordinator);
        const error = errorOf(response);
        const action = error === undefined ? "none" : coordinatorErrorAction(error.errorCode);
        if (action === "none" || error === undefined) return response;
        if (action === "relookup") this.invalidate(groupId, coordinator.nodeId);
        failure = errorFromWire(error.errorCode, error.errorMessage, `${method} for group '${groupId}'`);
      } catch (error) {
        if (!(error instanceof ProtocolError) || !error.retriable) throw error;
        if (coordinator !== undefined && isTransportFailure(error)) this.invalidate(groupId, coordinator.nodeId);
        failure = error;
      }
      const backoffMs = retryBackoffMs(tries, this.options.retryBackoffMs, this.options.retryBackoffMaxMs, this.random);
      const remainingMs = deadline - this.nowMs();
      if (remainingMs <= 0 || this.deps.isClosed?.()) throw failure;
      this.logger.debug("group call will retry", { groupId, method, tries, error: failure.message });
      await this.sleep(Math.min(backoffMs, remainingMs));
    }
  }
}

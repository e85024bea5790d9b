// What the group consumer needs from the cluster: the Group calls, each sent to the group's
// coordinator. ClusterClient provides it (finding the coordinator and retrying coordinator
// errors and transport failures within `retryTimeoutMs`, see coordinator-lookup.ts); tests
// fake it. Answers come back as they are: their error codes are the caller's to read, except
// coordinator errors, which the transport retries and throws as retriable ProtocolErrors once
// its time is up.

import type {
  HeartbeatRequestInput,
  HeartbeatResponse,
  JoinGroupRequestInput,
  JoinGroupResponse,
  LeaveGroupRequestInput,
  LeaveGroupResponse,
  OffsetCommitRequestInput,
  OffsetCommitResponse,
  OffsetFetchRequestInput,
  OffsetFetchResponse,
  SyncGroupRequestInput,
  SyncGroupResponse,
} from "@castle/protocol";

/** A Group request; every one names its group. */
export type GroupRequest<T> = T & { groupId: string };

export interface GroupCallTimeouts {
  /** Deadline of one attempt. Default: the client's requestTimeoutMs. */
  timeoutMs?: number;
  /** Bound on the call with coordinator lookups and retries. Default: the client's requestTimeoutMs. */
  retryTimeoutMs?: number;
}

export interface GroupTransport {
  /**
   * Long-polls until the join phase completes, so one attempt's deadline is the rebalance
   * timeout plus a margin, not the request timeout.
   */
  joinGroup(
    request: GroupRequest<JoinGroupRequestInput> & { rebalanceTimeoutMs: number },
    timeouts?: GroupCallTimeouts,
  ): Promise<JoinGroupResponse>;
  syncGroup(request: GroupRequest<SyncGroupRequestInput>, timeouts?: GroupCallTimeouts): Promise<SyncGroupResponse>;
  heartbeat(request: GroupRequest<HeartbeatRequestInput>, timeouts?: GroupCallTimeouts): Promise<HeartbeatResponse>;
  leaveGroup(request: GroupRequest<LeaveGroupRequestInput>, timeouts?: GroupCallTimeouts): Promise<LeaveGroupResponse>;
  offsetCommit(request: GroupRequest<OffsetCommitRequestInput>, timeouts?: GroupCallTimeouts): Promise<OffsetCommitResponse>;
  offsetFetch(request: GroupRequest<OffsetFetchRequestInput>, timeouts?: GroupCallTimeouts): Promise<OffsetFetchResponse>;
}

// What `castle quorum describe --status` and `--replication` print, after Kafka's
// kafka-metadata-quorum.sh (KIP-595's DescribeQuorum): built from one member's RaftNode status.
// Only the leader tracks its followers, so the per-replica columns and the lag figures are
// meaningful when the leader answers; elsewhere they are -1 (ask the leader).

import type { RaftNodeStatus, RaftReplicaStatus } from "@castle/raft";

/** Kafka's Status column. */
export type QuorumReplicaState = "Leader" | "Follower" | "Observer";

export interface QuorumReplicaInfo {
  readonly nodeId: number;
  /** Highest index known to be in the replica's log; -1 if unknown. */
  readonly logEndOffset: number;
  /** The leader's log end offset minus this one; -1 if unknown. */
  readonly lag: number;
  /** Wall-clock ms of the replica's last fetch (append response); -1 if none. */
  readonly lastFetchTimestampMs: number;
  /** Wall-clock ms when the replica last had the leader's whole log; -1 if never. */
  readonly lastCaughtUpTimestampMs: number;
  readonly status: QuorumReplicaState;
}

export interface QuorumInfo {
  readonly clusterId: string;
  /** The member that answered; the replication figures are its view. */
  readonly reportedBy: number;
  /** The Raft leader = the active controller (once it has caught up); -1 if none is known. */
  readonly leaderId: number;
  /** The Raft term. */
  readonly leaderEpoch: number;
  /** The Raft commit index. */
  readonly highWatermark: number;
  /** Largest lag of any follower or observer; -1 if not known here. */
  readonly maxFollowerLag: number;
  /** Longest time any replica has been behind (now minus its last caught-up time; 0 if caught up); -1 if not known here. */
  readonly maxFollowerLagTimeMs: number;
  readonly currentVoters: readonly number[];
  readonly currentObservers: readonly number[];
  /** Voters first (by id), then observers. */
  readonly replicas: readonly QuorumReplicaInfo[];
}

const NO_LEADER_ID = -1;

export function describeQuorum(status: RaftNodeStatus, clusterId: string, nowMs: number): QuorumInfo {
  const isLeader = status.role === "leader";
  const replicas = [...status.voters, ...status.observers].map(replicaInfo);
  const followers = replicas.filter((r) => r.status !== "Leader");
  let maxFollowerLag = isLeader ? 0 : -1;
  let maxFollowerLagTimeMs = isLeader ? 0 : -1;
  if (isLeader) {
    for (const follower of followers) {
      maxFollowerLag = Math.max(maxFollowerLag, follower.lag);
      if (follower.lag === 0) continue;
      const behindMs = follower.lastCaughtUpTimestampMs < 0 ? -1 : Math.max(0, nowMs - follower.lastCaughtUpTimestampMs);
      // A replica never caught up has been behind for longer than anyone can say: report -1 then.
      maxFollowerLagTimeMs = behindMs < 0 || maxFollowerLagTimeMs < 0 ? -1 : Math.max(maxFollowerLagTimeMs, behindMs);
    }
  }
  return {
    clusterId,
    reportedBy: status.nodeId,
    leaderId: status.leaderId > 0 ? status.leaderId : NO_LEADER_ID,
    leaderEpoch: status.term,
    highWatermark: status.commitIndex,
    maxFollowerLag,
    maxFollowerLagTimeMs,
    currentVoters: status.voters.map((v) => v.nodeId),
    currentObservers: status.observers.map((o) => o.nodeId),
    replicas,
  };
}

function replicaInfo(replica: RaftReplicaStatus): QuorumReplicaInfo {
  return {
    nodeId: replica.nodeId,
    logEndOffset: replica.logEndOffset,
    lag: replica.lag,
    lastFetchTimestampMs: replica.lastFetchTimestampMs ?? -1,
    lastCaughtUpTimestampMs: replica.lastCaughtUpTimestampMs ?? -1,
    status: replica.role === "leader" ? "Leader" : replica.role === "observer" ? "Observer" : "Follower",
  };
}

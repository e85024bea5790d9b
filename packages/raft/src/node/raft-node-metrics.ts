// Prometheus metrics of one RaftNode. Registered on the registry the node is given (none: the
// metrics still work, they are just not exported), so two nodes in one process need two registries.

import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { Role } from "../core/types.js";

const ROLES: readonly Role[] = ["follower", "pre-candidate", "candidate", "leader", "observer"];
const LATENCY_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export class RaftNodeMetrics {
  readonly commitLatency: Histogram;
  readonly appendLatency: Histogram;
  readonly electionsTotal: Counter;
  readonly currentTerm: Gauge;
  readonly leaderId: Gauge;
  readonly role: Gauge<"role">;
  readonly commitIndex: Gauge;
  readonly appliedIndex: Gauge;
  readonly snapshotsTaken: Counter;

  constructor(registry: Registry | undefined) {
    const registers = registry ? [registry] : [];
    this.commitLatency = new Histogram({
      name: "castle_raft_commit_latency_seconds",
      help: "Time from propose() to the entry being committed and applied on this node",
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    });
    this.appendLatency = new Histogram({
      name: "castle_raft_append_latency_seconds",
      help: "Time to persist one Ready (entries, hard state, snapshot); fsynced unless only commit moved",
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    });
    this.electionsTotal = new Counter({ name: "castle_raft_elections_total", help: "Elections this node started", registers });
    this.currentTerm = new Gauge({ name: "castle_raft_current_term", help: "This node's current term (the quorum epoch)", registers });
    this.leaderId = new Gauge({ name: "castle_raft_leader_id", help: "The leader this node knows of (0: none)", registers });
    this.role = new Gauge({
      name: "castle_raft_role",
      help: "1 for this node's current role, 0 for the others",
      labelNames: ["role"],
      registers,
    });
    this.commitIndex = new Gauge({
      name: "castle_raft_commit_index",
      help: "Highest log index known committed (high watermark)",
      registers,
    });
    this.appliedIndex = new Gauge({ name: "castle_raft_applied_index", help: "Highest log index applied to the state machine", registers });
    this.snapshotsTaken = new Counter({ name: "castle_raft_snapshots_taken_total", help: "State machine snapshots taken", registers });
    this.setRole("follower");
  }

  setRole(current: Role): void {
    for (const role of ROLES) this.role.set({ role }, role === current ? 1 : 0);
  }
}

// What a MetadataQuorum member is built from: its place in the Raft quorum, the cluster it
// serves, the controller's options, and the driver's own limits (units last), validated at
// start with readable messages; the node config that supplies them is the broker's job.

import { CastleError, type Clock, type Logger, type Random } from "@castle/common";
import type { RaftNodeOptions } from "@castle/raft";
import type { ControllerOptions } from "../controller/controller-options.js";

export interface MetadataQuorumOptions {
  /** node.id: this member's Raft id (a voter id, or an observer id). */
  readonly nodeId: number;
  /** The cluster id from meta.properties; the controller refuses brokers of another cluster. */
  readonly clusterId: string;
  /** Where this member's Raft log and snapshots live (LevelDB). */
  readonly dataDir: string;
  /** The controller listener (controller.port) the Raft transport binds. */
  readonly listen: { readonly host: string; readonly port: number };
  /** Address book, node id -> "host:port", covering every voter and observer. */
  readonly peers: Readonly<Record<number, string>>;
  /** controller.quorum.voters: the ids that vote and may become the active controller. */
  readonly voters: readonly number[];
  /** Ids that follow the metadata log without voting (broker-only nodes); never active. */
  readonly observers?: readonly number[];
  /** Controller options (Kafka keys in controller-options.ts); clusterId comes from above. */
  readonly controller?: Partial<Omit<ControllerOptions, "clusterId">>;
  /** Raft timing, passed to RaftNode (its defaults apply when absent). */
  readonly raftTickMs?: number;
  readonly raftElectionTicks?: number;
  readonly raftHeartbeatTicks?: number;
  /** How long an append waits to commit before the decision fails with REQUEST_TIMED_OUT (outcome unknown). */
  readonly raftRequestTimeoutMs?: number;
  /** Snapshot the image (and let Raft compact its log) every this many applied entries; 0 = never. */
  readonly snapshotEveryEntries?: number;
  /** Also snapshot once this many bytes of metadata batches were applied since the last; 0 = never by size. */
  readonly snapshotEveryBytes?: number;
  /** How often the active controller runs controller.tick() (session expiry, rebalance). */
  readonly controllerTickIntervalMs?: number;
  /** How often the member looks at its Raft role to become or stop being the active controller. */
  readonly leadershipPollIntervalMs?: number;
  /** Most decisions waiting for their turn; more are refused at once with REQUEST_TIMED_OUT. */
  readonly decisionQueueMax?: number;
}

/** The ports a member runs on; only main.ts files create the real ones. */
export interface MetadataQuorumDeps {
  readonly clock?: Clock;
  readonly random?: Random;
  readonly logger?: Logger;
  /** Raft metrics are registered here (one registry per member when several share a process). */
  readonly metricsRegistry?: RaftNodeOptions["metricsRegistry"];
  /** Adds the node's own services (castle.v1.Controller) to the Raft listener's gRPC server. */
  readonly addServices?: RaftNodeOptions["addServices"];
}

/** The endpoint name under which a broker registers its Raft listener, so the quorum can reach it as an observer. */
export const CONTROLLER_ENDPOINT = "CONTROLLER";

export const DEFAULT_SNAPSHOT_EVERY_ENTRIES = 1000;
export const DEFAULT_CONTROLLER_TICK_INTERVAL_MS = 250;
export const DEFAULT_LEADERSHIP_POLL_INTERVAL_MS = 50;
export const DEFAULT_DECISION_QUEUE_MAX = 1000;

export class MetadataQuorumOptionsError extends CastleError<"INVALID_QUORUM_OPTIONS"> {}

/** Throws MetadataQuorumOptionsError naming every problem at once. */
export function validateMetadataQuorumOptions(options: MetadataQuorumOptions): void {
  const problems: string[] = [];
  const positiveInt = (value: number | undefined, name: string): void => {
    if (value !== undefined && (!Number.isSafeInteger(value) || value <= 0))
      problems.push(`${name} must be a positive integer, got ${value}`);
  };
  positiveInt(options.nodeId, "node.id");
  positiveInt(options.controllerTickIntervalMs, "controllerTickIntervalMs");
  positiveInt(options.leadershipPollIntervalMs, "leadershipPollIntervalMs");
  positiveInt(options.decisionQueueMax, "decisionQueueMax");
  if (
    options.snapshotEveryEntries !== undefined &&
    (!Number.isSafeInteger(options.snapshotEveryEntries) || options.snapshotEveryEntries < 0)
  ) {
    problems.push(`snapshotEveryEntries must be a non-negative integer, got ${options.snapshotEveryEntries}`);
  }
  if (options.clusterId.trim() === "") problems.push("the cluster id is empty; format the data directory (castle storage format) first");
  if (options.voters.length === 0) problems.push("controller.quorum.voters is empty; list at least one voter as id@host:port");
  const observers = options.observers ?? [];
  if (!options.voters.includes(options.nodeId) && !observers.includes(options.nodeId)) {
    problems.push(
      `node.id ${options.nodeId} is neither in controller.quorum.voters (${options.voters.join(",")}) nor an observer; add it or fix node.id`,
    );
  }
  if (problems.length > 0) {
    throw new MetadataQuorumOptionsError("INVALID_QUORUM_OPTIONS", `invalid metadata quorum options: ${problems.join("; ")}`, {
      problems,
    });
  }
}

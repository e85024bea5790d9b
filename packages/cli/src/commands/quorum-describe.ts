// castle quorum describe --status | --replication: the metadata quorum in the layout of
// kafka-metadata-quorum.sh describe (KIP-595, KIP-836). The formatting is pure so it is
// tested without a server; --json prints the whole QuorumDescription either way.

import { Admin, type QuorumDescription, type QuorumReplicaStatus } from "@castle/client";
import type { Command } from "commander";
import { CliError } from "../support/cli-error.js";
import { globalOptions } from "../support/global-options.js";
import { printInfo, printJson, printLine, printTable } from "../support/output.js";

export type QuorumView = "status" | "replication";

/** Exactly one of --status and --replication, as kafka-metadata-quorum.sh describe requires. */
export function quorumView(options: { status?: boolean; replication?: boolean }): QuorumView {
  const status = options.status === true;
  const replication = options.replication === true;
  if (status && replication) throw new CliError("--status and --replication cannot be combined", "give one of them");
  if (status) return "status";
  if (replication) return "replication";
  throw new CliError("nothing to describe", "give --status or --replication");
}

/** Kafka aligns every value of --status at column 24. */
const STATUS_LABEL_WIDTH = 24;

const idList = (ids: readonly number[]): string => `[${ids.join(",")}]`;

/** The lines of `describe --status`, in Kafka's order and layout. */
export function quorumStatusLines(quorum: QuorumDescription): string[] {
  const fields: [string, string | number][] = [
    ["ClusterId", quorum.clusterId],
    ["LeaderId", quorum.leaderId],
    ["LeaderEpoch", quorum.leaderEpoch],
    ["HighWatermark", quorum.highWatermark],
    ["MaxFollowerLag", quorum.maxFollowerLag],
    ["MaxFollowerLagTimeMs", quorum.maxFollowerLagTimeMs],
    ["CurrentVoters", idList(quorum.currentVoters)],
    ["CurrentObservers", idList(quorum.currentObservers)],
  ];
  return fields.map(([label, value]) => `${`${label}:`.padEnd(STATUS_LABEL_WIDTH)}${value}`);
}

export const QUORUM_REPLICATION_HEAD = ["NodeId", "LogEndOffset", "Lag", "LastFetchTimestamp", "LastCaughtUpTimestamp", "Status"];

const statusOrder: Record<QuorumReplicaStatus, number> = { Leader: 0, Follower: 1, Observer: 2 };

/** The rows of `describe --replication`: the leader, then followers, then observers; -1 = unknown, as Kafka prints it. */
export function quorumReplicationRows(quorum: QuorumDescription): (string | number)[][] {
  return [...quorum.replicas]
    .sort((a, b) => statusOrder[a.status] - statusOrder[b.status] || a.nodeId - b.nodeId)
    .map((r) => [r.nodeId, r.logEndOffset, r.lag, r.lastFetchTimestampMs, r.lastCaughtUpTimestampMs, r.status]);
}

/** A warning for stderr when the view is not the quorum leader's own, else undefined. */
export function quorumViewNote(quorum: QuorumDescription): string | undefined {
  if (quorum.reportedBy === quorum.leaderId) return undefined;
  return `note: this is node ${quorum.reportedBy}'s view, not the quorum leader's; lags and timestamps may be unknown (-1)`;
}

export function registerQuorumDescribe(quorum: Command): void {
  quorum
    .command("describe")
    .description("describe the metadata quorum: its leader and lag (--status) or each replica (--replication)")
    .option("--status", "leader, epoch, high watermark, follower lag, voters and observers")
    .option("--replication", "one row per voter and observer: log end offset, lag, last fetch")
    .action(async (options: { status?: boolean; replication?: boolean }, command: Command) => {
      const globals = globalOptions(command);
      const view = quorumView(options);
      const admin = new Admin({ bootstrap: globals.bootstrap });
      try {
        const quorum = await admin.describeQuorum();
        if (globals.json) {
          printJson(quorum);
          return;
        }
        const note = quorumViewNote(quorum);
        if (note !== undefined) printInfo(note);
        if (view === "status") for (const line of quorumStatusLines(quorum)) printLine(line);
        else printTable(QUORUM_REPLICATION_HEAD, quorumReplicationRows(quorum));
      } finally {
        admin.close();
      }
    });
}

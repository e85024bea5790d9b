// AlterPartition end to end on three in-process nodes: a partition leader that is not the
// active controller asks, through its ControllerChannel and the castle.v1.Controller service,
// to shrink its ISR to itself; the change commits (partition epoch bumped, leader epoch kept)
// and DescribeTopics shows it; a stale partition epoch is refused with INVALID_UPDATE_VERSION,
// a follower asking with NOT_LEADER_OR_FOLLOWER; and the leader expands the ISR back.
//
// The brokers' own replication runs meanwhile and also asks for ISR changes (it re-adds caught-up
// followers), so the checks that could race with it state the condition they rely on.

import type { PartitionState } from "@castle/metadata";
import {
  type AdminClient,
  type AlterPartitionItemResult,
  type CreateTopicsResponse,
  type DescribeTopicsResponse,
  ErrorCode,
  loadCastleProto,
} from "@castle/protocol";
import { type InProcessCluster, startInProcessCluster, waitUntil } from "@castle/testkit";
import * as grpc from "@grpc/grpc-js";
import { expect } from "chai";

const CLUSTER_FLAGS = {
  "broker.heartbeat.interval.ms": "200",
  "broker.session.timeout.ms": "2000",
  "auto.leader.rebalance.enable": "false",
  "auto.create.topics.enable": "false",
};
const REQUEST_TIMEOUT_MS = 15_000;
const SETTLE_TIMEOUT_MS = 10_000;
/** AlterPartition attempts for the expansion, which may race with the leader's own ISR changes. */
const EXPAND_TRIES = 20;

function adminCall<Res>(client: AdminClient, method: string, request: unknown): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn = (
      client as unknown as Record<string, (r: unknown, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: Res) => void) => void>
    )[method];
    if (!fn) throw new Error(`no method ${method}`);
    fn.call(client, request, { deadline: Date.now() + REQUEST_TIMEOUT_MS }, (error, response) =>
      error ? reject(error) : resolve(response),
    );
  });
}

describe("AlterPartition over the wire (three in-process nodes)", function () {
  this.timeout(60_000);
  let cluster: InProcessCluster;
  const admins = new Map<number, AdminClient>();

  const admin = (id: number): AdminClient => {
    let found = admins.get(id);
    if (!found) {
      found = new (loadCastleProto().castle.v1.Admin)(`127.0.0.1:${cluster.node(id).clientPort}`, grpc.credentials.createInsecure());
      admins.set(id, found);
    }
    return found;
  };

  before(async () => {
    cluster = await startInProcessCluster({ size: 3, overrides: CLUSTER_FLAGS });
  });
  after(async () => {
    for (const client of admins.values()) client.close();
    await cluster?.close();
  });

  it("shrinks the ISR to the leader, refuses a stale partition epoch and a non-leader, and expands it back", async () => {
    const controllerId = await cluster.activeControllerId();
    const created = await adminCall<CreateTopicsResponse>(admin(controllerId), "CreateTopics", {
      topics: [{ name: "isr", numPartitions: 3, replicationFactor: 3, configs: {} }],
    });
    const topicId = created.topics[0]?.topicId as string;
    expect(created.topics[0]?.errorCode, created.topics[0]?.errorMessage).to.equal(ErrorCode.NONE);

    // A partition led by a node that is not the active controller, so the request crosses the wire.
    const partitionOf = (via: number, partition: number): PartitionState | undefined =>
      cluster.node(via).quorum.image.partition(topicId, partition);
    const chosen = await waitUntil(
      () => {
        if (!cluster.ids.every((id) => partitionOf(id, 2) !== undefined)) return undefined;
        return [0, 1, 2].map((p) => partitionOf(controllerId, p) as PartitionState).find((p) => p.leader !== controllerId);
      },
      "every node to apply the topic, and a partition led by another node",
      SETTLE_TIMEOUT_MS,
    );
    const { partition, leader, replicas, leaderEpoch, partitionEpoch } = chosen;
    const follower = replicas.find((id) => id !== leader) as number;
    expect(chosen.isr, "a new partition's ISR is its replicas").to.deep.equal(replicas);

    const history: PartitionState[] = [];
    const unsubscribe = cluster.node(leader).quorum.onImage((image) => {
      const state = image.partition(topicId, partition);
      if (state && state.partitionEpoch !== history.at(-1)?.partitionEpoch) history.push(state);
    });
    const ask = async (
      asker: number,
      newIsr: readonly number[],
      epochs: { leaderEpoch: number; partitionEpoch: number },
    ): Promise<AlterPartitionItemResult> => {
      const brokerEpoch = cluster.node(asker).quorum.image.broker(asker)?.brokerEpoch as number;
      const response = await cluster
        .node(asker)
        .context!.controller.call("alterPartition", [
          { brokerId: asker, brokerEpoch, topics: [{ topicId, partitions: [{ partition, ...epochs, newIsr: [...newIsr] }] }] },
        ]);
      expect(response.topics.map((t) => t.topicId)).to.deep.equal([topicId]);
      const result = response.topics[0]?.partitions[0];
      expect(result?.partition).to.equal(partition);
      return result as AlterPartitionItemResult;
    };
    const describedIsr = async (via: number): Promise<number[]> => {
      const described = await adminCall<DescribeTopicsResponse>(admin(via), "DescribeTopics", { names: ["isr"] });
      return described.topics[0]?.metadata?.partitions.find((p) => p.partition === partition)?.isrNodes ?? [];
    };

    try {
      // Shrink: one PartitionChange; the answer is the committed state.
      const shrunk = await ask(leader, [leader], { leaderEpoch, partitionEpoch });
      expect(shrunk.errorCode, shrunk.errorMessage).to.equal(ErrorCode.NONE);
      expect(shrunk).to.deep.include({ leaderId: leader, leaderEpoch, isr: [leader], partitionEpoch: partitionEpoch + 1 });
      await waitUntil(
        () => history.some((s) => s.partitionEpoch === partitionEpoch + 1),
        "the leader's node to apply the shrunk ISR",
        SETTLE_TIMEOUT_MS,
      );
      expect(
        history.find((s) => s.partitionEpoch === partitionEpoch + 1),
        "the committed shrink",
      ).to.deep.include({
        leader,
        leaderEpoch,
        isr: [leader],
        replicas,
      });
      // DescribeTopics shows the shrunk ISR, unless the leader's replication has re-added a follower meanwhile.
      const epochBefore = partitionOf(leader, partition)?.partitionEpoch;
      const described = await describedIsr(leader);
      const epochAfter = partitionOf(leader, partition)?.partitionEpoch;
      if (epochBefore === partitionEpoch + 1 && epochAfter === partitionEpoch + 1) {
        expect(described, "DescribeTopics on the leader's node").to.deep.equal([leader]);
      } else {
        expect(epochAfter, "the ISR moved on after the shrink").to.be.greaterThan(partitionEpoch + 1);
      }

      // The epochs the shrink was based on are stale now.
      const stale = await ask(leader, [leader], { leaderEpoch, partitionEpoch });
      expect(stale.errorCode, stale.errorMessage).to.equal(ErrorCode.INVALID_UPDATE_VERSION);
      expect(stale.errorMessage).to.match(new RegExp(`partition epoch ${partitionEpoch} is stale`));
      expect(stale.partitionEpoch, "the answer carries the current partition epoch").to.be.greaterThan(partitionEpoch);

      // A follower with the current epochs is not the leader.
      const now = partitionOf(follower, partition) as PartitionState;
      const notLeader = await ask(follower, replicas, { leaderEpoch: now.leaderEpoch, partitionEpoch: now.partitionEpoch });
      expect(notLeader.errorCode, notLeader.errorMessage).to.equal(ErrorCode.NOT_LEADER_OR_FOLLOWER);
      expect(notLeader.errorMessage).to.match(new RegExp(`broker ${follower} does not lead isr-${partition}; broker ${leader} leads it`));

      // Expand back, from the leader's current view (its replication may be changing the ISR too).
      let expanded: AlterPartitionItemResult | undefined;
      for (let attempt = 0; attempt < EXPAND_TRIES && !expanded; attempt++) {
        const view = partitionOf(leader, partition) as PartitionState;
        const result = await ask(leader, replicas, { leaderEpoch: view.leaderEpoch, partitionEpoch: view.partitionEpoch });
        if (result.errorCode === ErrorCode.NONE) expanded = result;
        else {
          expect(result.errorCode, result.errorMessage).to.equal(ErrorCode.INVALID_UPDATE_VERSION);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      expect(expanded, "the expansion was accepted").to.not.equal(undefined);
      expect(expanded).to.deep.include({ leaderId: leader, leaderEpoch, isr: [...replicas] });
      expect(expanded?.partitionEpoch, "at least one more ISR change since the shrink").to.be.greaterThan(partitionEpoch + 1);
      await waitUntil(
        async () => JSON.stringify(await describedIsr(leader)) === JSON.stringify(replicas),
        "DescribeTopics to show the whole ISR again",
        SETTLE_TIMEOUT_MS,
      );
      expect(partitionOf(leader, partition), "leadership never moved").to.deep.include({ leader, leaderEpoch });
    } finally {
      unsubscribe();
    }
  });
});

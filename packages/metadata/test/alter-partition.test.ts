// The quorum controller's AlterPartition (KIP-497, eligibility from KIP-841): a partition
// leader shrinks or expands its ISR. Accepted changes are one PartitionChange with the new ISR
// (partition epoch bumped, leader epoch kept); every refusal answers with Kafka's code and the
// partition as it is, and writes nothing.

import type { AlterPartitionItem, AlterPartitionResult, MetadataRecord, PartitionState } from "@castle/metadata";
import { NO_LEADER } from "@castle/metadata";
import { expect } from "chai";
import { TestCluster } from "./helpers.js";

/** A 4-broker cluster with one RF 3 partition: its leader, two followers, and a registered broker that is not a replica. */
class Scenario {
  readonly cluster = new TestCluster({ brokerSessionTimeoutMs: 1000, autoLeaderRebalanceEnable: false }).addBrokers([1, 2, 3, 4]);
  readonly topicId = this.cluster.createTopic("t", 1, 3);
  readonly leader: number;
  readonly followers: readonly number[];
  readonly stranger: number;

  constructor() {
    const p = this.partition();
    this.leader = p.leader;
    this.followers = p.replicas.filter((id) => id !== p.leader);
    this.stranger = [1, 2, 3, 4].find((id) => !p.replicas.includes(id)) as number;
  }

  partition(): PartitionState {
    const p = this.cluster.image.partition(this.topicId, 0);
    if (!p) throw new Error("partition t-0 is not in the image");
    return p;
  }

  /** The leader's current view of partition 0, with `overrides`. */
  item(overrides: Partial<AlterPartitionItem> = {}): AlterPartitionItem {
    const p = this.partition();
    return {
      topicId: this.topicId,
      partition: 0,
      leaderEpoch: p.leaderEpoch,
      partitionEpoch: p.partitionEpoch,
      newIsr: [...p.isr],
      ...overrides,
    };
  }

  ask(items: readonly AlterPartitionItem[], brokerId = this.leader, brokerEpoch = this.cluster.epochs.get(brokerId) as number) {
    return this.cluster.controller.alterPartition({ brokerId, brokerEpoch, partitions: items });
  }

  /** A test's shortcut to an ISR (as if an earlier AlterPartition had committed). */
  setIsr(isr: readonly number[]): void {
    this.cluster.inject([{ type: "PartitionChange", topicId: this.topicId, partition: 0, isr: [...isr] }]);
  }
}

const leadershipOf = (p: PartitionState) => ({
  leader: p.leader,
  leaderEpoch: p.leaderEpoch,
  isr: [...p.isr],
  partitionEpoch: p.partitionEpoch,
});
const codes = (results: readonly AlterPartitionResult[]) => results.map((r) => r.error?.code ?? "NONE");

describe("QuorumController: alterPartition", () => {
  it("shrinks the ISR with one PartitionChange: the partition epoch moves, the leader epoch does not", () => {
    const s = new Scenario();
    const before = s.partition();
    expect(before).to.deep.include({ leaderEpoch: 0, partitionEpoch: 0, isr: before.replicas });
    const decision = s.ask([s.item({ newIsr: [s.leader] })]);
    expect(decision.records).to.deep.equal([{ type: "PartitionChange", topicId: s.topicId, partition: 0, isr: [s.leader] }]);
    const expected = { leader: s.leader, leaderEpoch: 0, isr: [s.leader], partitionEpoch: 1 };
    expect(decision.result).to.deep.equal([{ topicId: s.topicId, partition: 0, error: null, state: expected }]);
    s.cluster.commit(decision);
    expect(leadershipOf(s.partition()), "the answer is what replay makes of the record").to.deep.equal(expected);
    expect(s.partition().replicas, "replicas stay").to.deep.equal(before.replicas);
  });

  it("expands the ISR back, in replica order whatever the request's order, and again bumps only the partition epoch", () => {
    const s = new Scenario();
    const replicas = s.partition().replicas;
    s.cluster.commit(s.ask([s.item({ newIsr: [s.leader] })]));
    const decision = s.ask([s.item({ newIsr: [...replicas].reverse() })]);
    expect(decision.records).to.deep.equal([{ type: "PartitionChange", topicId: s.topicId, partition: 0, isr: [...replicas] }]);
    s.cluster.commit(decision);
    expect(leadershipOf(s.partition())).to.deep.equal({ leader: s.leader, leaderEpoch: 0, isr: [...replicas], partitionEpoch: 2 });
    expect(decision.result[0]?.state).to.deep.equal(leadershipOf(s.partition()));
  });

  it("answers an unchanged ISR (in any order) with the partition as it is and writes nothing", () => {
    const s = new Scenario();
    const decision = s.ask([s.item({ newIsr: [...s.partition().isr].reverse() })]);
    expect(decision.records).to.deep.equal([]);
    expect(decision.result).to.deep.equal([{ topicId: s.topicId, partition: 0, error: null, state: leadershipOf(s.partition()) }]);
    expect(s.cluster.controller.hasOutstandingRecords).to.equal(false);
  });

  it("keeps a member already in the ISR even when it is fenced: only joining members are judged, and leaving is always allowed", () => {
    const s = new Scenario();
    const [kept, dropped] = s.followers as [number, number];
    // Fenced while still in the ISR (the image allows it; the controller's own fencing would also shrink the ISR).
    s.cluster.inject([{ type: "FenceBroker", brokerId: kept, brokerEpoch: s.cluster.epochs.get(kept) as number }]);
    const decision = s.ask([s.item({ newIsr: [s.leader, kept] })]);
    expect(codes(decision.result)).to.deep.equal(["NONE"]);
    expect(decision.records).to.have.length(1);
    s.cluster.commit(decision);
    expect(s.partition().isr).to.not.include(dropped);
  });

  type Case = [what: string, setup: (s: Scenario) => { asker?: number; item: AlterPartitionItem }, code: string, message: RegExp];
  const refusals: Case[] = [
    [
      "an unknown topic id",
      (s) => ({ item: s.item({ topicId: "no-such-topic" }) }),
      "UNKNOWN_TOPIC_OR_PARTITION",
      /partition 0 of topic id no-such-topic does not exist/,
    ],
    [
      "an unknown partition",
      (s) => ({ item: s.item({ partition: 1 }) }),
      "UNKNOWN_TOPIC_OR_PARTITION",
      /partition 1 of topic id .* does not exist/,
    ],
    [
      "a leader epoch ahead of the controller's",
      (s) => ({ item: s.item({ leaderEpoch: 1 }) }),
      "NOT_CONTROLLER",
      /t-0: the request's leader epoch 1 and partition epoch 0 are ahead of this controller's \(leader epoch 0, partition epoch 0\)/,
    ],
    [
      "a partition epoch ahead of the controller's",
      (s) => ({ item: s.item({ partitionEpoch: 5 }) }),
      "NOT_CONTROLLER",
      /likely no longer the active controller/,
    ],
    [
      "a former leader with its old leader epoch",
      (s) => {
        const old = s.item();
        s.cluster.inject([{ type: "PartitionChange", topicId: s.topicId, partition: 0, leader: s.followers[0] as number }]);
        return { item: old };
      },
      "FENCED_LEADER_EPOCH",
      /t-0: leader epoch 0 is older than the current 1; broker \d leads it now/,
    ],
    [
      "a follower with the current epochs",
      (s) => ({ asker: s.followers[0] as number, item: s.item() }),
      "NOT_LEADER_OR_FOLLOWER",
      /broker \d does not lead t-0; broker \d leads it/,
    ],
    [
      "a leaderless partition",
      (s) => {
        s.cluster.inject([{ type: "PartitionChange", topicId: s.topicId, partition: 0, leader: NO_LEADER }]);
        return { item: s.item() };
      },
      "NOT_LEADER_OR_FOLLOWER",
      /does not lead t-0; it has no leader/,
    ],
    [
      "a stale partition epoch (the ISR changed meanwhile)",
      (s) => {
        const old = s.item({ newIsr: [s.leader] });
        s.setIsr([s.leader, s.followers[0] as number]);
        return { item: old };
      },
      "INVALID_UPDATE_VERSION",
      /t-0: partition epoch 0 is stale; the current one is 1, with ISR \[/,
    ],
    [
      "an ISR without the leader",
      (s) => ({ item: s.item({ newIsr: [...s.followers] }) }),
      "INVALID_REQUEST",
      /t-0: the new ISR \[.*\] must include the leader/,
    ],
    ["an empty ISR", (s) => ({ item: s.item({ newIsr: [] }) }), "INVALID_REQUEST", /the new ISR \[\] must include the leader/],
    [
      "an ISR listing a member twice",
      (s) => ({ item: s.item({ newIsr: [s.leader, s.leader] }) }),
      "INVALID_REQUEST",
      /t-0: the new ISR \[.*\] lists broker \d twice/,
    ],
    [
      "an ISR with a broker that is not a replica",
      (s) => ({ item: s.item({ newIsr: [...s.partition().isr, s.stranger] }) }),
      "INELIGIBLE_REPLICA",
      /t-0: broker \d in the new ISR \[.*\] is not one of its replicas/,
    ],
    [
      "adding a fenced replica",
      (s) => {
        const f = s.followers[0] as number;
        s.setIsr([s.leader]);
        s.cluster.inject([{ type: "FenceBroker", brokerId: f, brokerEpoch: s.cluster.epochs.get(f) as number }]);
        return { item: s.item({ newIsr: [s.leader, f] }) };
      },
      "INELIGIBLE_REPLICA",
      /t-0: broker \d cannot join the ISR: it is fenced/,
    ],
    [
      "adding a replica in controlled shutdown",
      (s) => {
        const f = s.followers[0] as number;
        s.cluster.heartbeat(f, true); // leaves the ISR and is fenced, in one batch
        return { item: s.item({ newIsr: [...s.partition().isr, f] }) };
      },
      "INELIGIBLE_REPLICA",
      /cannot join the ISR: it is in controlled shutdown/,
    ],
    [
      "adding a replica that is no longer registered",
      (s) => {
        const f = s.followers[0] as number;
        s.cluster.commit(s.cluster.controller.unregisterBroker(f));
        return { item: s.item({ newIsr: [...s.partition().isr, f] }) };
      },
      "INELIGIBLE_REPLICA",
      /cannot join the ISR: it is not registered/,
    ],
  ];
  for (const [what, setup, code, message] of refusals) {
    it(`refuses ${what}: ${code}, the partition as it is, no records`, () => {
      const s = new Scenario();
      const { asker, item } = setup(s);
      const before = s.cluster.image.partition(item.topicId, item.partition);
      const decision = s.ask([item], asker);
      expect(decision.records, what).to.deep.equal([]);
      expect(s.cluster.controller.hasOutstandingRecords, what).to.equal(false);
      const [result] = decision.result;
      expect(result?.error?.code, what).to.equal(code);
      expect(result?.error?.message, what).to.match(message);
      expect(result?.state, `${what}: state`).to.deep.equal(before ? leadershipOf(before) : null);
    });
  }

  it("answers per partition: refused ones do not stop the others, and a partition named twice is refused the second time", () => {
    const s = new Scenario();
    const other = s.cluster.createTopic("u", 2, 4);
    const leaderOf = (p: number) => s.cluster.image.partition(other, p) as PartitionState;
    // Make the Scenario's leader lead both of u's partitions, so one request can name them all.
    const moves: MetadataRecord[] = [0, 1]
      .filter((p) => leaderOf(p).leader !== s.leader)
      .map((p) => ({ type: "PartitionChange", topicId: other, partition: p, leader: s.leader }));
    if (moves.length > 0) s.cluster.inject(moves);
    const u0 = leaderOf(0);
    const u1 = leaderOf(1);
    const decision = s.ask([
      s.item({ newIsr: [s.leader] }),
      { topicId: other, partition: 0, leaderEpoch: u0.leaderEpoch, partitionEpoch: u0.partitionEpoch + 7, newIsr: [s.leader] },
      { topicId: other, partition: 1, leaderEpoch: u1.leaderEpoch, partitionEpoch: u1.partitionEpoch, newIsr: [s.leader] },
      s.item({ newIsr: [s.leader] }),
    ]);
    expect(codes(decision.result)).to.deep.equal(["NONE", "NOT_CONTROLLER", "NONE", "INVALID_REQUEST"]);
    expect(decision.result[3]?.error?.message).to.match(/appears twice in the request/);
    expect(decision.records).to.deep.equal([
      { type: "PartitionChange", topicId: s.topicId, partition: 0, isr: [s.leader] },
      { type: "PartitionChange", topicId: other, partition: 1, isr: [s.leader] },
    ]);
    s.cluster.commit(decision);
    expect(leadershipOf(s.partition())).to.deep.equal(decision.result[0]?.state);
    expect(leadershipOf(leaderOf(1))).to.deep.equal(decision.result[2]?.state);
    expect(leaderOf(0).partitionEpoch, "the refused partition is untouched").to.equal(u0.partitionEpoch);
  });

  it("refuses the whole request from a stale broker epoch, an unregistered broker, or with too many partitions", () => {
    const s = new Scenario();
    const epoch = s.cluster.epochs.get(s.leader) as number;
    expect(() => s.ask([s.item({ newIsr: [s.leader] })], s.leader, epoch - 1))
      .to.throw(/must register again/)
      .with.property("code", "STALE_BROKER_EPOCH");
    expect(() => s.ask([s.item({ newIsr: [s.leader] })], 9, 1))
      .to.throw(/broker 9 is not registered/)
      .with.property("code", "BROKER_ID_NOT_REGISTERED");
    const small = new TestCluster({ requestItemsMax: 1 }).addBrokers([1]);
    const topicId = small.createTopic("t", 2, 1);
    const items = [0, 1].map((partition) => ({ topicId, partition, leaderEpoch: 0, partitionEpoch: 0, newIsr: [1] }));
    expect(() => small.controller.alterPartition({ brokerId: 1, brokerEpoch: small.epochs.get(1) as number, partitions: items }))
      .to.throw(/names 2 items; at most 1/)
      .with.property("code", "INVALID_REQUEST");
    expect(s.cluster.controller.hasOutstandingRecords, "refusals leave no records outstanding").to.equal(false);
    expect(small.controller.hasOutstandingRecords).to.equal(false);
  });
});

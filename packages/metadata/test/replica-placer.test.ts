// Replica placement: even leaders and replicas, distinct racks, deterministic.

import { emptyPlacementLoad, type PlacementBroker, placeReplicas } from "@castle/metadata";
import { expect } from "chai";
import { leadersPerBroker, TestCluster } from "./helpers.js";

function counts(assignments: readonly number[][]): { leaders: Map<number, number>; replicas: Map<number, number> } {
  const leaders = new Map<number, number>();
  const replicas = new Map<number, number>();
  for (const a of assignments) {
    leaders.set(a[0] as number, (leaders.get(a[0] as number) ?? 0) + 1);
    for (const id of a) replicas.set(id, (replicas.get(id) ?? 0) + 1);
  }
  return { leaders, replicas };
}

function expectWithinOne(map: ReadonlyMap<number, number>, brokers: number, total: number, what: string): void {
  const mean = total / brokers;
  expect(map.size, `${what}: every broker has some`).to.equal(brokers);
  for (const [id, n] of map) expect(Math.abs(n - mean), `${what} on broker ${id}: ${n}, mean ${mean.toFixed(2)}`).to.be.at.most(1);
}

describe("replica placement", () => {
  it("3 brokers, 100 topics x 10 partitions, RF 3 through the controller: leaders per broker within 1 of the mean", () => {
    const cluster = new TestCluster({ autoLeaderRebalanceEnable: false }, 11).addBrokers([1, 2, 3]);
    for (let t = 0; t < 100; t++) cluster.createTopic(`t${t}`, 10, 3);
    expectWithinOne(leadersPerBroker(cluster.image), 3, 1000, "leaders");
  });

  const shapes: Array<[number, number, number]> = [
    [5, 7, 2],
    [4, 10, 3],
    [7, 3, 1],
    [10, 50, 3],
  ];
  for (const [brokerCount, topics, rf] of shapes) {
    it(`${brokerCount} brokers, ${topics} topics x 6 partitions, RF ${rf}: leaders and replicas within 1 of the mean`, () => {
      const brokers: PlacementBroker[] = Array.from({ length: brokerCount }, (_, i) => ({ brokerId: i + 1, rack: null }));
      const load = emptyPlacementLoad();
      const all: number[][] = [];
      for (let t = 0; t < topics; t++) all.push(...placeReplicas(brokers, load, 6, rf, t * 7));
      const { leaders, replicas } = counts(all);
      expectWithinOne(leaders, brokerCount, topics * 6, "leaders");
      expectWithinOne(replicas, brokerCount, topics * 6 * rf, "replicas");
      for (const a of all) expect(new Set(a).size, `distinct replicas in ${a.join(",")}`).to.equal(rf);
    });
  }

  it("puts every partition's replicas on 3 racks when 6 brokers sit in 3 racks", () => {
    const racks: Record<number, string> = { 1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c" };
    const brokers = Object.entries(racks).map(([id, rack]) => ({ brokerId: Number(id), rack }));
    const assignments = placeReplicas(brokers, emptyPlacementLoad(), 120, 3, 0);
    for (const a of assignments) expect(new Set(a.map((id) => racks[id])).size, `racks of ${a.join(",")}`).to.equal(3);
    const { leaders, replicas } = counts(assignments);
    expectWithinOne(leaders, 6, 120, "leaders");
    expectWithinOne(replicas, 6, 360, "replicas");
  });

  it("with 3 racks of uneven size, still one replica per rack, through the controller", () => {
    const cluster = new TestCluster({ autoLeaderRebalanceEnable: false }).addBrokers([
      [1, "a"],
      [2, "a"],
      [3, "a"],
      [4, "b"],
      [5, "c"],
    ]);
    for (let t = 0; t < 10; t++) cluster.createTopic(`t${t}`, 10, 3);
    for (const topic of cluster.image.topics()) {
      for (const p of topic.partitions) {
        const racks = p.replicas.map((id) => cluster.image.broker(id)?.rack);
        expect(new Set(racks).size, `${topic.name}-${p.partition} on racks ${racks.join(",")}`).to.equal(3);
      }
    }
  });

  it("places on racks as far as they go when RF exceeds the rack count", () => {
    const brokers = [
      { brokerId: 1, rack: "a" },
      { brokerId: 2, rack: "a" },
      { brokerId: 3, rack: "b" },
      { brokerId: 4, rack: "b" },
    ];
    for (const a of placeReplicas(brokers, emptyPlacementLoad(), 20, 3, 0)) {
      const racks = new Set(a.map((id) => (id <= 2 ? "a" : "b")));
      expect(racks.size, `replicas ${a.join(",")} use both racks`).to.equal(2);
    }
  });

  it("is deterministic for a start index and rotates leaders among equals", () => {
    const brokers = [1, 2, 3].map((brokerId) => ({ brokerId, rack: null }));
    const once = placeReplicas(brokers, emptyPlacementLoad(), 9, 2, 5);
    expect(placeReplicas(brokers, emptyPlacementLoad(), 9, 2, 5)).to.deep.equal(once);
    expect(once.slice(0, 3).map((a) => a[0])).to.have.members([1, 2, 3]);
  });

  it("fills the least-loaded broker first when one joins a loaded cluster", () => {
    const cluster = new TestCluster({ autoLeaderRebalanceEnable: false }).addBrokers([1, 2]);
    for (let t = 0; t < 4; t++) cluster.createTopic(`old${t}`, 5, 2);
    cluster.addBrokers([3]);
    const topicId = cluster.createTopic("new", 10, 1);
    const leaders = (cluster.image.topicById(topicId)?.partitions ?? []).map((p) => p.leader);
    expect(leaders.filter((id) => id === 3).length, `leaders ${leaders.join(",")}`).to.be.at.least(8);
  });
});

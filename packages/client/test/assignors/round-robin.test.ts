import { expect } from "chai";
import { RoundRobinAssignor } from "../../src/consumer/assignors/index.js";
import { counts, member, shape } from "./assignor-fixtures.js";

describe("RoundRobinAssignor", () => {
  const roundRobin = new RoundRobinAssignor();

  it("advertises 'roundrobin' for the eager protocol only", () => {
    expect(roundRobin.name).to.equal("roundrobin");
    expect(roundRobin.supportedProtocols).to.deep.equal(["EAGER"]);
  });

  const cases: {
    name: string;
    partitions: Record<string, number>;
    members: ReturnType<typeof member>[];
    expected: Record<string, string>;
  }[] = [
    {
      name: "deals 7 partitions to 3 members in turn",
      partitions: { t: 7 },
      members: [member("a", ["t"]), member("b", ["t"]), member("c", ["t"])],
      expected: { a: "t-0 t-3 t-6", b: "t-1 t-4", c: "t-2 t-5" },
    },
    {
      name: "Kafka's documented example: 2 consumers, 2 topics of 3 partitions",
      partitions: { t0: 3, t1: 3 },
      members: [member("C0", ["t0", "t1"]), member("C1", ["t0", "t1"])],
      expected: { C0: "t0-0 t0-2 t1-1", C1: "t0-1 t1-0 t1-2" },
    },
    {
      name: "Kafka's documented example for unequal subscriptions: skips members not subscribed to the topic",
      partitions: { t0: 1, t1: 2, t2: 3 },
      members: [member("C0", ["t0"]), member("C1", ["t0", "t1"]), member("C2", ["t0", "t1", "t2"])],
      expected: { C0: "t0-0", C1: "t1-0", C2: "t1-1 t2-0 t2-1 t2-2" },
    },
    {
      name: "keeps dealing across topics, so counts differ by at most one over all topics together",
      partitions: { t0: 2, t1: 2 },
      members: [member("a", ["t0", "t1"]), member("b", ["t0", "t1"]), member("c", ["t0", "t1"])],
      expected: { a: "t0-0 t1-1", b: "t0-1", c: "t1-0" },
    },
    {
      name: "sorts static members by group instance id",
      partitions: { t: 3 },
      members: [
        member("a", ["t"], { groupInstanceId: "z" }),
        member("b", ["t"], { groupInstanceId: "x" }),
        member("c", ["t"], { groupInstanceId: "y" }),
      ],
      expected: { a: "t-2", b: "t-0", c: "t-1" },
    },
    {
      name: "skips topics missing from the metadata and gives a member with no known topic nothing",
      partitions: { t: 2 },
      members: [member("a", ["t", "unknown"]), member("b", ["unknown"]), member("c", [])],
      expected: { a: "t-0 t-1", b: "", c: "" },
    },
  ];

  for (const c of cases) {
    it(c.name, () => {
      expect(shape(roundRobin.assign(counts(c.partitions), c.members))).to.deep.equal(c.expected);
    });
  }
});

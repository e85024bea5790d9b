import { expect } from "chai";
import { RangeAssignor } from "../../src/consumer/assignors/index.js";
import { counts, member, shape } from "./assignor-fixtures.js";

describe("RangeAssignor", () => {
  const range = new RangeAssignor();

  it("advertises 'range' for the eager protocol only", () => {
    expect(range.name).to.equal("range");
    expect(range.supportedProtocols).to.deep.equal(["EAGER"]);
  });

  const cases: {
    name: string;
    partitions: Record<string, number>;
    members: ReturnType<typeof member>[];
    expected: Record<string, string>;
  }[] = [
    {
      name: "splits 7 partitions over 3 members into contiguous ranges, the first members taking the extras",
      partitions: { t: 7 },
      members: [member("a", ["t"]), member("b", ["t"]), member("c", ["t"])],
      expected: { a: "t-0 t-1 t-2", b: "t-3 t-4", c: "t-5 t-6" },
    },
    {
      name: "Kafka's documented example: 2 consumers, 2 topics of 3 partitions",
      partitions: { t0: 3, t1: 3 },
      members: [member("C0", ["t0", "t1"]), member("C1", ["t0", "t1"])],
      expected: { C0: "t0-0 t0-1 t1-0 t1-1", C1: "t0-2 t1-2" },
    },
    {
      name: "sorts members by member id, whatever the input order",
      partitions: { t: 3 },
      members: [member("c", ["t"]), member("a", ["t"]), member("b", ["t"])],
      expected: { c: "t-2", a: "t-0", b: "t-1" },
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
      name: "splits each topic among its own subscribers when subscriptions differ",
      partitions: { t0: 3, t1: 2, t2: 1 },
      members: [member("a", ["t0", "t1"]), member("b", ["t1"]), member("c", ["t0", "t2"])],
      expected: { a: "t0-0 t0-1 t1-0", b: "t1-1", c: "t0-2 t2-0" },
    },
    {
      name: "leaves members beyond the partition count empty",
      partitions: { t: 2 },
      members: [member("a", ["t"]), member("b", ["t"]), member("c", ["t"])],
      expected: { a: "t-0", b: "t-1", c: "" },
    },
    {
      name: "skips topics missing from the metadata and gives a member with no known topic nothing",
      partitions: { t: 2, empty: 0 },
      members: [member("a", ["t", "unknown"]), member("b", ["unknown", "empty"]), member("c", [])],
      expected: { a: "t-0 t-1", b: "", c: "" },
    },
    {
      name: "returns an empty map for an empty group",
      partitions: { t: 2 },
      members: [],
      expected: {},
    },
  ];

  for (const c of cases) {
    it(c.name, () => {
      expect(shape(range.assign(counts(c.partitions), c.members))).to.deep.equal(c.expected);
    });
  }
});

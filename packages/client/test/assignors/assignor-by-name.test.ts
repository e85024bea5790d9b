import { expect } from "chai";
import {
  ASSIGNOR_NAMES,
  assignorByName,
  CooperativeStickyAssignor,
  DEFAULT_ASSIGNORS,
  RangeAssignor,
  RoundRobinAssignor,
} from "../../src/consumer/assignors/index.js";
import { ClientConfigError } from "../../src/errors/wire-error.js";
import { counts, member } from "./assignor-fixtures.js";

describe("assignorByName", () => {
  it("finds each built-in assignor by its protocol name", () => {
    expect(ASSIGNOR_NAMES).to.deep.equal(["range", "roundrobin", "cooperative-sticky"]);
    for (const name of ASSIGNOR_NAMES) expect(assignorByName(name).name, name).to.equal(name);
    expect(assignorByName("range")).to.be.instanceOf(RangeAssignor);
    expect(assignorByName("roundrobin")).to.be.instanceOf(RoundRobinAssignor);
    expect(assignorByName("cooperative-sticky")).to.be.instanceOf(CooperativeStickyAssignor);
  });

  it("rejects an unknown name, listing the known ones", () => {
    expect(() => assignorByName("sticky")).to.throw(
      ClientConfigError,
      "unknown partition assignor 'sticky': use one of 'range', 'roundrobin'",
    );
  });

  it("defaults to Kafka's [range, cooperative-sticky]", () => {
    expect(DEFAULT_ASSIGNORS.map((a) => a.name)).to.deep.equal(["range", "cooperative-sticky"]);
  });
});

describe("assignors reject bad input", () => {
  for (const assignor of [new RangeAssignor(), new RoundRobinAssignor(), new CooperativeStickyAssignor()]) {
    it(`${assignor.name}: duplicate member ids`, () => {
      expect(() => assignor.assign(counts({ t: 2 }), [member("a", ["t"]), member("b", ["t"]), member("a", ["t"])])).to.throw(
        ClientConfigError,
        "member id 'a' appears twice",
      );
    });

    for (const partitionCount of [-1, 1.5, Number.NaN]) {
      it(`${assignor.name}: partition count ${partitionCount}`, () => {
        expect(() => assignor.assign(counts({ t: 2, u: partitionCount }), [member("a", ["t"])])).to.throw(
          ClientConfigError,
          `cannot assign topic 'u' with ${partitionCount} partitions: partition counts are integers >= 0`,
        );
      });
    }
  }
});

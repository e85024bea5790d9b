// Compaction configs: cleanup.policy (Kafka's list form), delete.retention.ms,
// min.cleanable.dirty.ratio (a double in [0, 1]) and min.compaction.lag.ms, as storage validates
// a LogConfig and as the topic config table (@castle/metadata) validates user input.
// (The topic-table cases belong with packages/metadata's tests; they sit here with the feature.)

import { topicConfigDef, validateTopicConfigs } from "@castle/metadata";
import type { ProtocolError } from "@castle/protocol";
import { expect } from "chai";
import { type LogConfig, parseCleanupPolicy, policyCompacts, policyDeletes, validateLogConfig } from "../src/index.js";
import { config } from "./helpers.js";

function refusal(action: () => unknown): ProtocolError {
  try {
    action();
  } catch (error) {
    return error as ProtocolError;
  }
  throw new Error("expected a refusal");
}

describe("compaction configs", () => {
  it("parses cleanup.policy in Kafka's list form, either order", () => {
    const cases: Array<[string, string]> = [
      ["delete", "delete"],
      ["compact", "compact"],
      ["compact,delete", "compact,delete"],
      ["delete,compact", "compact,delete"],
      [" compact , delete ", "compact,delete"],
    ];
    for (const [text, policy] of cases) expect(parseCleanupPolicy(text), text).to.equal(policy);
    expect([policyCompacts("delete"), policyCompacts("compact"), policyCompacts("compact,delete")]).to.deep.equal([false, true, true]);
    expect([policyDeletes("delete"), policyDeletes("compact"), policyDeletes("compact,delete")]).to.deep.equal([true, false, true]);
    for (const bad of ["", "sometimes", "compact,compact", "compact,delete,compact", "compact;delete"]) {
      const error = refusal(() => parseCleanupPolicy(bad));
      expect(error.code, JSON.stringify(bad)).to.equal("INVALID_CONFIG");
      expect(error.message, JSON.stringify(bad)).to.contain(`cleanup.policy=${bad} is not delete, compact or a comma list of both`);
    }
  });

  it("validates the compaction fields of a LogConfig with readable messages", () => {
    const bad: Array<[Partial<LogConfig>, RegExp]> = [
      [{ cleanupPolicy: "bogus" as LogConfig["cleanupPolicy"] }, /cleanup.policy=bogus must be delete, compact or compact,delete/],
      [{ minCleanableDirtyRatio: 1.5 }, /min.cleanable.dirty.ratio=1.5 must be a number in \[0, 1\]/],
      [{ minCleanableDirtyRatio: -0.1 }, /min.cleanable.dirty.ratio=-0.1 must be a number in \[0, 1\]/],
      [{ minCleanableDirtyRatio: Number.NaN }, /min.cleanable.dirty.ratio=NaN/],
      [{ deleteRetentionMs: -1 }, /delete.retention.ms=-1 must be an integer/],
      [{ minCompactionLagMs: 0.5 }, /min.compaction.lag.ms=0.5 must be an integer/],
    ];
    for (const [overrides, message] of bad) {
      const error = refusal(() => validateLogConfig(config(overrides)));
      expect(error.code, String(message)).to.equal("INVALID_CONFIG");
      expect(error.message).to.match(message);
    }
    for (const ratio of [0, 0.5, 1])
      expect(() => validateLogConfig(config({ minCleanableDirtyRatio: ratio })), `ratio ${ratio}`).not.to.throw();
  });

  it("validates the topic configs users set (list, double and long keys)", () => {
    expect(
      validateTopicConfigs({
        "cleanup.policy": "delete, compact",
        "min.cleanable.dirty.ratio": "0.25",
        "delete.retention.ms": "1000",
        "min.compaction.lag.ms": "0",
      }),
    ).to.deep.equal({
      "cleanup.policy": "delete,compact",
      "min.cleanable.dirty.ratio": "0.25",
      "delete.retention.ms": "1000",
      "min.compaction.lag.ms": "0",
    });
    expect(validateTopicConfigs({ "cleanup.policy": "compact" })).to.deep.equal({ "cleanup.policy": "compact" });
    const bad: Array<[Record<string, string>, RegExp]> = [
      [{ "cleanup.policy": "sometimes" }, /cleanup.policy=sometimes is not a comma list of compact, delete \("sometimes" is not one\)/],
      [{ "cleanup.policy": "compact," }, /cleanup.policy=compact, is not a comma list of compact, delete/],
      [{ "cleanup.policy": "compact,compact" }, /cleanup.policy=compact,compact names a value twice/],
      [{ "min.cleanable.dirty.ratio": "1.5" }, /min.cleanable.dirty.ratio=1.5 is out of range; it must be between 0 and 1/],
      [{ "min.cleanable.dirty.ratio": "-0.5" }, /min.cleanable.dirty.ratio=-0.5 is out of range/],
      [{ "min.cleanable.dirty.ratio": "half" }, /min.cleanable.dirty.ratio=half is not a number/],
      [{ "min.cleanable.dirty.ratio": "NaN" }, /min.cleanable.dirty.ratio=NaN is not a number/],
      [{ "delete.retention.ms": "-1" }, /delete.retention.ms=-1 is out of range/],
      [{ "min.compaction.lag.ms": "soon" }, /min.compaction.lag.ms=soon is not an integer/],
    ];
    for (const [configs, message] of bad) {
      const error = refusal(() => validateTopicConfigs(configs));
      expect(error.code, String(message)).to.equal("INVALID_CONFIG");
      expect(error.message).to.match(message);
    }
    expect(topicConfigDef("min.cleanable.dirty.ratio")).to.include({
      type: "double",
      defaultValue: 0.5,
      brokerKey: "log.cleaner.min.cleanable.ratio",
    });
    expect(topicConfigDef("delete.retention.ms")).to.include({ defaultValue: 86_400_000, brokerKey: "log.cleaner.delete.retention.ms" });
  });
});

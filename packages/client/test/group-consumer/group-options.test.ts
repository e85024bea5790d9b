// Group options and the group API's preconditions: every bad input is refused with a message
// naming the option (or call) and the fix, and nothing is sent.

import { expect } from "chai";
import { Consumer, type ConsumerConfig } from "../../src/consumer/consumer.js";
import { resolveGroupOptions } from "../../src/consumer/group/group-options.js";
import { ClientConfigError } from "../../src/errors/wire-error.js";
import { FakeGroupCluster } from "./fake-group-cluster.js";

function consumerWith(config: ConsumerConfig): Consumer {
  return new Consumer(config, { transport: new FakeGroupCluster({ t: 1 }).transport("c") });
}

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected an error");
}

describe("group consumer options", () => {
  it("uses Kafka's defaults", () => {
    const resolved = resolveGroupOptions({ groupId: "g" });
    expect({
      sessionTimeoutMs: resolved.sessionTimeoutMs,
      heartbeatIntervalMs: resolved.heartbeatIntervalMs,
      maxPollIntervalMs: resolved.maxPollIntervalMs,
      enableAutoCommit: resolved.enableAutoCommit,
      autoCommitIntervalMs: resolved.autoCommitIntervalMs,
      assignors: resolved.assignors.map((a) => a.name),
      rebalanceProtocol: resolved.rebalanceProtocol,
      metadataMaxAgeMs: resolved.metadataMaxAgeMs,
    }).to.deep.equal({
      sessionTimeoutMs: 45_000,
      heartbeatIntervalMs: 3_000,
      maxPollIntervalMs: 300_000,
      enableAutoCommit: true,
      autoCommitIntervalMs: 5_000,
      assignors: ["range", "cooperative-sticky"],
      rebalanceProtocol: "EAGER",
      metadataMaxAgeMs: 300_000,
    });
  });

  it("rebalances cooperatively only when every assignor supports it", () => {
    expect(resolveGroupOptions({ groupId: "g", partitionAssignmentStrategy: ["cooperative-sticky"] }).rebalanceProtocol).to.equal(
      "COOPERATIVE",
    );
    expect(
      resolveGroupOptions({ groupId: "g", partitionAssignmentStrategy: ["roundrobin", "cooperative-sticky"] }).rebalanceProtocol,
    ).to.equal("EAGER");
  });

  const refused: { name: string; config: ConsumerConfig; message: RegExp }[] = [
    { name: "an empty groupId", config: { groupId: "" }, message: /groupId="" is invalid: use a non-empty group name/ },
    { name: "groupInstanceId without groupId", config: { groupInstanceId: "i-1" }, message: /groupInstanceId needs groupId/ },
    { name: "a blank groupInstanceId", config: { groupId: "g", groupInstanceId: " " }, message: /groupInstanceId=" " is invalid/ },
    {
      name: "a zero session timeout",
      config: { groupId: "g", sessionTimeoutMs: 0 },
      message: /sessionTimeoutMs=0 is invalid: use an integer of milliseconds/,
    },
    {
      name: "a heartbeat interval not below the session timeout",
      config: { groupId: "g", sessionTimeoutMs: 1000, heartbeatIntervalMs: 1000 },
      message: /heartbeatIntervalMs=1000 must be below sessionTimeoutMs=1000: set it to a third/,
    },
    {
      name: "a fractional maxPollIntervalMs",
      config: { groupId: "g", maxPollIntervalMs: 1.5 },
      message: /maxPollIntervalMs=1.5 is invalid/,
    },
    {
      name: "a negative autoCommitIntervalMs",
      config: { groupId: "g", autoCommitIntervalMs: -1 },
      message: /autoCommitIntervalMs=-1 is invalid/,
    },
    {
      name: "a non-boolean enableAutoCommit",
      config: { groupId: "g", enableAutoCommit: "yes" as unknown as boolean },
      message: /enableAutoCommit=yes is invalid: use true or false/,
    },
    {
      name: "an unknown assignor",
      config: { groupId: "g", partitionAssignmentStrategy: ["sticky-ish"] },
      message:
        /partitionAssignmentStrategy: unknown partition assignor 'sticky-ish': use one of 'range', 'roundrobin', 'cooperative-sticky'/,
    },
    { name: "no assignor", config: { groupId: "g", partitionAssignmentStrategy: [] }, message: /list at least one assignor/ },
    {
      name: "an assignor twice",
      config: { groupId: "g", partitionAssignmentStrategy: ["range", "range"] },
      message: /names 'range' twice/,
    },
    { name: "a zero metadataMaxAgeMs", config: { groupId: "g", metadataMaxAgeMs: 0 }, message: /metadataMaxAgeMs=0 is invalid/ },
  ];
  for (const { name, config, message } of refused) {
    it(`refuses ${name}`, () => {
      const error = thrown(() => consumerWith(config));
      expect(error, name).to.be.instanceOf(ClientConfigError);
      expect(error.message, name).to.match(message);
    });
  }
});

describe("group consumer preconditions", () => {
  it("subscribe() needs a groupId", () => {
    const consumer = consumerWith({});
    expect(() => consumer.subscribe(["t"])).to.throw(
      ClientConfigError,
      /subscribe\(\) needs a consumer group: set the consumer option groupId/,
    );
  });

  it("commits and committed() need a groupId", async () => {
    const consumer = consumerWith({});
    const error = await consumer.commitSync([{ topic: "t", partition: 0, offset: 1 }]).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).to.match(/commitSync\(\) needs a consumer group: set the consumer option groupId/);
    expect(() => consumer.commitAsync()).to.throw(/commitAsync\(\) needs a consumer group/);
    const committed = await consumer.committed([{ topic: "t", partition: 0 }]).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(committed?.message).to.match(/committed\(\) needs a consumer group/);
  });

  it("subscribe() and assign() are mutually exclusive", async () => {
    const consumer = consumerWith({ groupId: "g" });
    consumer.subscribe(["t"]);
    expect(() => consumer.assign([{ topic: "t", partition: 0 }])).to.throw(
      ClientConfigError,
      /mutually exclusive: call unsubscribe\(\) first/,
    );
    await consumer.unsubscribe();
    consumer.assign([{ topic: "t", partition: 0 }]);
    expect(() => consumer.subscribe(["t"])).to.throw(
      ClientConfigError,
      /mutually exclusive: call unsubscribe\(\) \(or assign\(\[\]\)\) first/,
    );
    consumer.assign([]);
    consumer.subscribe(/^t$/);
    await consumer.close({ timeoutMs: 1000 });
  });

  it("refuses an empty or malformed subscription", () => {
    const consumer = consumerWith({ groupId: "g" });
    expect(() => consumer.subscribe([])).to.throw(/needs at least one topic or a RegExp: to stop consuming, call unsubscribe\(\)/);
    expect(() => consumer.subscribe(["ok", ""])).to.throw(/topic "" is not a topic name/);
  });

  it("refuses malformed offsets to commit", async () => {
    const consumer = consumerWith({ groupId: "g" });
    const error = await consumer.commitSync([{ topic: "t", partition: 0, offset: -5 }]).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).to.match(/cannot commit offset -5 for t-0: offsets are integers >= 0/);
    const badKey = await consumer.commitSync(new Map([["t-0", 3]])).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(badKey?.message).to.match(/map key "t-0" is not a partition key: build keys with tpKey/);
  });

  it("pauses only assigned partitions", () => {
    const consumer = consumerWith({});
    consumer.assign([{ topic: "t", partition: 0 }]);
    expect(() => consumer.pause([{ topic: "t", partition: 3 }])).to.throw(/cannot pause t-3: it is not assigned to this consumer/);
    consumer.pause([{ topic: "t", partition: 0 }]);
    expect(consumer.paused()).to.deep.equal([{ topic: "t", partition: 0 }]);
    consumer.resume([{ topic: "t", partition: 0 }]);
    expect(consumer.paused()).to.deep.equal([]);
  });
});

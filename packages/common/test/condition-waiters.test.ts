import { expect } from "chai";
import { ConditionWaiters } from "../src/condition-waiters.js";

describe("ConditionWaiters", () => {
  it("resolves at once when the condition already holds, and rejects at once when it already failed", async () => {
    const waiters = new ConditionWaiters();
    await waiters.wait(
      () => true,
      10,
      () => new Error("timeout"),
    );
    const failure = new Error("refused");
    const error = await waiters
      .wait(
        () => failure,
        10,
        () => new Error("timeout"),
      )
      .catch((e: Error) => e);
    expect(error).to.equal(failure);
  });

  it("resolves on the notify after the state changed, and only then", async () => {
    const waiters = new ConditionWaiters();
    let state = 0;
    let done = false;
    const waiting = waiters
      .wait(
        () => (state >= 2 ? true : undefined),
        1000,
        () => new Error("timeout"),
      )
      .then(() => {
        done = true;
      });
    state = 1;
    waiters.notify();
    await Promise.resolve();
    expect(done).to.equal(false);
    state = 2;
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(done, "no notify yet").to.equal(false);
    waiters.notify();
    await waiting;
    expect(done).to.equal(true);
  });

  it("rejects with the check's error when the state fails, and with the timeout's error when nothing happens", async () => {
    const waiters = new ConditionWaiters();
    let failure: Error | undefined;
    const failing = waiters
      .wait(
        () => failure,
        1000,
        () => new Error("timeout"),
      )
      .catch((e: Error) => e.message);
    failure = new Error("fatal");
    waiters.notify();
    expect(await failing).to.equal("fatal");
    const started = Date.now();
    const timedOut = await waiters
      .wait(
        () => undefined,
        30,
        () => new Error("gave up"),
      )
      .catch((e: Error) => e.message);
    expect(timedOut).to.equal("gave up");
    expect(Date.now() - started).to.be.at.least(25);
  });
});

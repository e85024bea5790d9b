// The consumer-group gauges read one GroupCoordinator snapshot per scrape, and each scrape a fresh one.

import { expect } from "chai";
import { BrokerMetrics, type GroupGaugeSource } from "../src/metrics/broker-metrics.js";

describe("consumer-group gauges", () => {
  it("take one stats() snapshot per scrape, and a fresh one for the next scrape", async () => {
    let calls = 0;
    let committed = 10;
    const source: GroupGaugeSource = {
      stats() {
        calls++;
        return {
          groupsByState: { Stable: 1 },
          rebalancesTotal: calls,
          groups: [{ groupId: "g", offsets: [{ topic: "t", partition: 0, offset: committed }] }],
        };
      },
      highWatermark: () => 25,
    };
    const metrics = new BrokerMetrics({ forEachPartition: () => {} }, 1);
    metrics.trackGroups(source);

    const first = await metrics.registry.metrics();
    expect(calls, "stats() calls for one scrape of three gauges").to.equal(1);
    expect(first).to.match(/castle_group_lag_records\{group="g",topic="t",partition="0",node_id="1"\} 15\n/);
    expect(first).to.match(/castle_group_count\{state="Stable",node_id="1"\} 1\n/);

    await new Promise((resolve) => setImmediate(resolve));
    committed = 20;
    const second = await metrics.registry.metrics();
    expect(calls, "a second scrape takes a new snapshot").to.equal(2);
    expect(second).to.match(/castle_group_lag_records\{group="g",topic="t",partition="0",node_id="1"\} 5\n/);
    expect(second).to.match(/castle_group_rebalances_total\{node_id="1"\} 2\n/);
  });
});

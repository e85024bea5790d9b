// castle cluster describe: the node table's cells, from fixed node descriptions (no server).

import type { ClusterNodeDescription } from "@castle/client";
import { expect } from "chai";
import { CLUSTER_NODES_HEAD, clusterNodeRows, controllerText } from "../src/commands/cluster-describe.js";

const broker: ClusterNodeDescription = {
  nodeId: 1,
  host: "10.0.0.1",
  port: 9092,
  rack: "r1",
  isBroker: true,
  isController: false,
  fenced: false,
  inControlledShutdown: false,
  lastHeartbeatAgeMs: 120,
  brokerEpoch: 7,
};

describe("castle cluster describe (formatting)", () => {
  it("shows the controller id, or none while there is no active controller", () => {
    expect(controllerText(3)).to.equal("3");
    expect(controllerText(-1)).to.equal("none");
  });

  it("builds one row per node", () => {
    expect(CLUSTER_NODES_HEAD).to.deep.equal(["Id", "Roles", "Host", "Port", "Rack", "Status", "LastHeartbeat", "Epoch"]);
    const cases: { name: string; node: ClusterNodeDescription; row: (string | number)[] }[] = [
      { name: "unfenced broker", node: broker, row: [1, "broker", "10.0.0.1", 9092, "r1", "unfenced", "120 ms ago", 7] },
      {
        name: "combined node without rack",
        node: { ...broker, nodeId: 2, isController: true, rack: "" },
        row: [2, "broker,controller", "10.0.0.1", 9092, "-", "unfenced", "120 ms ago", 7],
      },
      {
        name: "fenced broker never heard from",
        node: { ...broker, nodeId: 3, fenced: true, lastHeartbeatAgeMs: -1 },
        row: [3, "broker", "10.0.0.1", 9092, "r1", "fenced", "-", 7],
      },
      {
        name: "broker in controlled shutdown",
        node: { ...broker, nodeId: 4, inControlledShutdown: true, lastHeartbeatAgeMs: 0 },
        row: [4, "broker", "10.0.0.1", 9092, "r1", "shutting down", "0 ms ago", 7],
      },
      {
        name: "fenced after its controlled shutdown",
        node: { ...broker, nodeId: 5, inControlledShutdown: true, fenced: true },
        row: [5, "broker", "10.0.0.1", 9092, "r1", "fenced", "120 ms ago", 7],
      },
      {
        name: "controller-only node",
        node: {
          ...broker,
          nodeId: 6,
          host: "",
          port: 0,
          rack: "",
          isBroker: false,
          isController: true,
          lastHeartbeatAgeMs: -1,
          brokerEpoch: -1,
        },
        row: [6, "controller", "-", "-", "-", "-", "-", "-"],
      },
    ];
    for (const { name, node, row } of cases) {
      expect(clusterNodeRows([node])[0], name).to.deep.equal(row);
    }
  });
});

// DescribeCluster: the cluster id, the active controller and the brokers.

import type { DescribeClusterResponseInput } from "@castle/protocol";
import type { BrokerContext } from "./broker-context.js";
import { brokerList } from "./topic-metadata.js";

export async function handleDescribeCluster(ctx: BrokerContext): Promise<DescribeClusterResponseInput> {
  return { clusterId: ctx.registry.clusterId, controllerId: ctx.config.nodeId, brokers: brokerList(ctx) };
}

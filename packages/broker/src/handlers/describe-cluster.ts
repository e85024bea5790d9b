// DescribeCluster, DescribeQuorum and ElectLeaders: the cluster as the active controller sees it
// (broker sessions, every replica's progress), asked through the controller channel. When no
// controller answers in time, the cluster and quorum views fall back to this node's own (its
// image; its Raft status, where the per-replica progress is unknown), so an operator can still
// look at a cluster that has lost its quorum.

import {
  type DescribeClusterResponseInput,
  type DescribeQuorumResponseInput,
  type ElectLeadersRequest,
  type ElectLeadersResponseInput,
  ErrorCode,
  ProtocolError,
} from "@castle/protocol";
import { clientBrokers, clusterNodes } from "../controller/cluster-nodes.js";
import { quorumResponse } from "../controller/controller-api.js";
import { awaitControllerCommit } from "./await-metadata.js";
import type { BrokerContext } from "./broker-context.js";

/** How long a describe waits for the active controller before answering from this node's view. */
const DESCRIBE_CONTROLLER_WAIT_MS = 3000;

export async function handleDescribeCluster(ctx: BrokerContext): Promise<DescribeClusterResponseInput> {
  const image = ctx.image();
  const base = { clusterId: ctx.clusterId, controllerId: ctx.quorum.controllerId, brokers: clientBrokers(image) };
  try {
    const fromController = await ctx.controller.call("describeCluster", [], DESCRIBE_CONTROLLER_WAIT_MS);
    return { ...base, controllerId: fromController.controllerId ?? base.controllerId, nodes: fromController.nodes ?? [] };
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    ctx.logger.debug("describe cluster without the controller's broker sessions", { error: error.message });
    return { ...base, nodes: clusterNodes(image, ctx.quorum.voterIds, [], ctx.clock.monotonicMs()) };
  }
}

export async function handleDescribeQuorum(ctx: BrokerContext): Promise<DescribeQuorumResponseInput> {
  try {
    return await ctx.controller.call("describeQuorum", [], DESCRIBE_CONTROLLER_WAIT_MS);
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    ctx.logger.debug("describe quorum from this node's view", { error: error.message });
    return quorumResponse(ctx.quorum.quorumStatus());
  }
}

export async function handleElectLeaders(ctx: BrokerContext, request: ElectLeadersRequest): Promise<ElectLeadersResponseInput> {
  const response = await ctx.controller.call("electLeaders", [request], request.timeoutMs);
  if ((response.results ?? []).some((r) => r.errorCode === ErrorCode.NONE)) await awaitControllerCommit(ctx);
  return response;
}

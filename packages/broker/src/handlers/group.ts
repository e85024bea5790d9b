// castle.v1.Group: FindCoordinator is answered from the metadata image (creating
// __consumer_offsets on first use); every other call goes to this node's GroupCoordinator,
// which answers NOT_COORDINATOR for groups whose offsets partition this node does not lead.

import { NO_LEADER } from "@castle/metadata";
import type {
  DeleteGroupsRequest,
  DeleteGroupsResponseInput,
  DescribeGroupsRequest,
  DescribeGroupsResponseInput,
  FindCoordinatorRequest,
  FindCoordinatorResponseInput,
  HeartbeatRequest,
  HeartbeatResponseInput,
  JoinGroupRequest,
  JoinGroupResponseInput,
  LeaveGroupRequest,
  LeaveGroupResponseInput,
  ListGroupsRequest,
  ListGroupsResponseInput,
  OffsetCommitRequest,
  OffsetCommitResponseInput,
  OffsetFetchRequest,
  OffsetFetchResponseInput,
  SyncGroupRequest,
  SyncGroupResponseInput,
} from "@castle/protocol";
import { protocolError } from "@castle/protocol";
import { CLIENT_ENDPOINT } from "../controller/cluster-nodes.js";
import { ensureOffsetsTopic, OFFSETS_TOPIC } from "../replica/offsets-topic.js";
import { awaitLocalMetadata } from "./await-metadata.js";
import type { BrokerContext } from "./broker-context.js";
import { errorFields, noError } from "./error-result.js";

/** How long FindCoordinator may spend creating __consumer_offsets before answering COORDINATOR_NOT_AVAILABLE. */
const OFFSETS_TOPIC_CREATE_TIMEOUT_MS = 10_000;

export async function handleFindCoordinator(ctx: BrokerContext, request: FindCoordinatorRequest): Promise<FindCoordinatorResponseInput> {
  const none = { nodeId: -1, host: "", port: -1 };
  try {
    if (request.groupId === "")
      throw protocolError("INVALID_GROUP_ID", "the group id is empty; consumers in a group need a non-empty group.id");
    await ensureOffsetsTopic(ctx, OFFSETS_TOPIC_CREATE_TIMEOUT_MS);
    await awaitLocalMetadata(ctx, (image) => image.topic(OFFSETS_TOPIC) !== undefined);
    const image = ctx.image();
    const topic = image.topic(OFFSETS_TOPIC);
    if (!topic) throw protocolError("COORDINATOR_NOT_AVAILABLE", `${OFFSETS_TOPIC} is being created; retry shortly`);
    const partition = ctx.groups.partitionFor(request.groupId);
    const leader = topic.partitions[partition]?.leader ?? NO_LEADER;
    if (leader === NO_LEADER) {
      throw protocolError(
        "COORDINATOR_NOT_AVAILABLE",
        `${OFFSETS_TOPIC}-${partition}, which holds group "${request.groupId}", has no leader right now; retry shortly`,
      );
    }
    const endpoint = image.broker(leader)?.endpoints.find((e) => e.name === CLIENT_ENDPOINT);
    if (!endpoint)
      throw protocolError(
        "COORDINATOR_NOT_AVAILABLE",
        `node ${leader} coordinates group "${request.groupId}" but has no client endpoint registered; retry shortly`,
      );
    return { ...noError, nodeId: leader, host: endpoint.host, port: endpoint.port };
  } catch (error) {
    return { ...errorFields(error, ctx.logger, "find coordinator"), ...none };
  }
}

export async function handleJoinGroup(ctx: BrokerContext, request: JoinGroupRequest, peer: string): Promise<JoinGroupResponseInput> {
  return ctx.groups.joinGroup(request, clientHostOf(peer));
}

export async function handleSyncGroup(ctx: BrokerContext, request: SyncGroupRequest): Promise<SyncGroupResponseInput> {
  return ctx.groups.syncGroup(request);
}

export async function handleHeartbeat(ctx: BrokerContext, request: HeartbeatRequest): Promise<HeartbeatResponseInput> {
  return ctx.groups.heartbeat(request);
}

export async function handleLeaveGroup(ctx: BrokerContext, request: LeaveGroupRequest): Promise<LeaveGroupResponseInput> {
  return ctx.groups.leaveGroup(request);
}

export async function handleOffsetCommit(ctx: BrokerContext, request: OffsetCommitRequest): Promise<OffsetCommitResponseInput> {
  return ctx.groups.commitOffsets(request);
}

export async function handleOffsetFetch(ctx: BrokerContext, request: OffsetFetchRequest): Promise<OffsetFetchResponseInput> {
  return ctx.groups.fetchOffsets(request);
}

export async function handleListGroups(ctx: BrokerContext, request: ListGroupsRequest): Promise<ListGroupsResponseInput> {
  return ctx.groups.listGroups(request.statesFilter);
}

export async function handleDescribeGroups(ctx: BrokerContext, request: DescribeGroupsRequest): Promise<DescribeGroupsResponseInput> {
  return ctx.groups.describeGroups(request.groupIds);
}

export async function handleDeleteGroups(ctx: BrokerContext, request: DeleteGroupsRequest): Promise<DeleteGroupsResponseInput> {
  return ctx.groups.deleteGroups(request.groupIds);
}

/** "ipv4:127.0.0.1:5555" or "ipv6:[::1]:5555" -> the host part, as Kafka's client.host shows it. */
export function clientHostOf(peer: string): string {
  const address = peer.replace(/^ipv[46]:/, "");
  const bracketed = /^\[([^\]]+)\]:\d+$/.exec(address);
  if (bracketed) return `/${bracketed[1]}`;
  const colon = address.lastIndexOf(":");
  return `/${colon > 0 ? address.slice(0, colon) : address}`;
}

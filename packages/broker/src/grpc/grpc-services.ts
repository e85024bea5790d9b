// The gRPC adapter: binds castle.v1.Broker, castle.v1.Admin and castle.v1.Group to the handlers. Nothing
// here decides anything; it times each call, and turns a thrown error into a gRPC status
// (INVALID_ARGUMENT for operating errors that reject the whole request, INTERNAL for bugs).
// ProduceStream has its own adapter (produce-stream.ts) over the same handleProduce.

import {
  type AdminHandlers,
  type BrokerHandlers,
  type GroupHandlers,
  loadCastleProto,
  ProtocolError,
  statusDetailsOf,
} from "@castle/protocol";
import * as grpc from "@grpc/grpc-js";
import { handleAlterConfigs, handleDescribeConfigs } from "../handlers/admin-configs.js";
import {
  handleCreatePartitions,
  handleCreateTopics,
  handleDeleteTopics,
  handleDescribeTopics,
  handleListTopics,
} from "../handlers/admin-topics.js";
import type { BrokerContext } from "../handlers/broker-context.js";
import { handleDescribeCluster, handleDescribeQuorum, handleElectLeaders } from "../handlers/describe-cluster.js";
import { handleFetch } from "../handlers/fetch.js";
import {
  handleDeleteGroups,
  handleDescribeGroups,
  handleFindCoordinator,
  handleHeartbeat,
  handleJoinGroup,
  handleLeaveGroup,
  handleListGroups,
  handleOffsetCommit,
  handleOffsetFetch,
  handleSyncGroup,
} from "../handlers/group.js";
import { handleListOffsets } from "../handlers/list-offsets.js";
import { handleMetadata } from "../handlers/metadata.js";
import { handleOffsetForLeaderEpoch } from "../handlers/offset-for-leader-epoch.js";
import { handleProduce } from "../handlers/produce.js";
import { ProduceStreams } from "./produce-stream.js";
import { ReplicaFetchStreams } from "./replica-fetch-stream.js";

/** A handler gets the request and the caller's address (gRPC's peer string), which few need. */
type Handler<Req, Res> = (ctx: BrokerContext, request: Req, peer: string) => Promise<Res>;

function unary<Req, Res>(ctx: BrokerContext, api: string, handler: Handler<Req, Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    ctx.metrics
      .observe(api, () => handler(ctx, call.request, call.getPeer()))
      .then(
        (response) => callback(null, response),
        (error: unknown) => {
          if (error instanceof ProtocolError) {
            callback({ code: grpc.status.INVALID_ARGUMENT, details: statusDetailsOf(error) });
            return;
          }
          ctx.logger.error("request failed", { api, error });
          callback({ code: grpc.status.INTERNAL, details: `unexpected server error in ${api}; see the server log` });
        },
      );
  };
}

/** What the node must do at shutdown for the services bound here. */
export interface CastleServices {
  /** Ends long-lived streams (ProduceStream) so the server can shut down without waiting on clients. */
  closeStreams(): void;
}

export function addCastleServices(server: grpc.Server, ctx: BrokerContext): CastleServices {
  const proto = loadCastleProto();
  const produceStreams = new ProduceStreams(ctx);
  const broker: BrokerHandlers = {
    Produce: unary(ctx, "produce", handleProduce),
    ProduceStream: produceStreams.handle,
    Fetch: unary(ctx, "fetch", handleFetch),
    ReplicaFetchStream: new ReplicaFetchStreams(ctx).handle,
    ListOffsets: unary(ctx, "list_offsets", handleListOffsets),
    Metadata: unary(ctx, "metadata", handleMetadata),
    OffsetForLeaderEpoch: unary(ctx, "offset_for_leader_epoch", handleOffsetForLeaderEpoch),
  };
  const admin: AdminHandlers = {
    CreateTopics: unary(ctx, "create_topics", handleCreateTopics),
    DeleteTopics: unary(ctx, "delete_topics", handleDeleteTopics),
    ListTopics: unary(ctx, "list_topics", handleListTopics),
    DescribeTopics: unary(ctx, "describe_topics", handleDescribeTopics),
    CreatePartitions: unary(ctx, "create_partitions", handleCreatePartitions),
    DescribeConfigs: unary(ctx, "describe_configs", handleDescribeConfigs),
    AlterConfigs: unary(ctx, "alter_configs", handleAlterConfigs),
    DescribeCluster: unary(ctx, "describe_cluster", handleDescribeCluster),
    DescribeQuorum: unary(ctx, "describe_quorum", handleDescribeQuorum),
    ElectLeaders: unary(ctx, "elect_leaders", handleElectLeaders),
  };
  const group: GroupHandlers = {
    FindCoordinator: unary(ctx, "find_coordinator", handleFindCoordinator),
    JoinGroup: unary(ctx, "join_group", handleJoinGroup),
    SyncGroup: unary(ctx, "sync_group", handleSyncGroup),
    Heartbeat: unary(ctx, "heartbeat", handleHeartbeat),
    LeaveGroup: unary(ctx, "leave_group", handleLeaveGroup),
    OffsetCommit: unary(ctx, "offset_commit", handleOffsetCommit),
    OffsetFetch: unary(ctx, "offset_fetch", handleOffsetFetch),
    ListGroups: unary(ctx, "list_groups", handleListGroups),
    DescribeGroups: unary(ctx, "describe_groups", handleDescribeGroups),
    DeleteGroups: unary(ctx, "delete_groups", handleDeleteGroups),
  };
  server.addService(proto.castle.v1.Broker.service, broker);
  server.addService(proto.castle.v1.Group.service, group);
  server.addService(proto.castle.v1.Admin.service, admin);
  return { closeStreams: () => produceStreams.closeAll() };
}

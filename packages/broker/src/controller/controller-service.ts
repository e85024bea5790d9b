// The gRPC adapter for castle.v1.Controller on the controller listener: each call goes to the
// local controller API, and a refusal of the whole request (NOT_CONTROLLER above all) travels
// as a status whose details the caller's ControllerChannel turns back into the ProtocolError.

import type { Logger } from "@castle/common";
import { type ControllerHandlers, loadCastleProto, ProtocolError, protocolError, statusDetailsOf } from "@castle/protocol";
import * as grpc from "@grpc/grpc-js";
import type { ControllerApi } from "./controller-api.js";

function unary<Req, Res>(logger: Logger, method: string, call: (request: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (serverCall, callback) => {
    call(serverCall.request).then(
      (response) => callback(null, response),
      (error: unknown) => {
        if (error instanceof ProtocolError) {
          callback({ code: grpc.status.FAILED_PRECONDITION, details: statusDetailsOf(error) });
          return;
        }
        logger.error("controller request failed", { method, error });
        callback({ code: grpc.status.INTERNAL, details: `unexpected controller error in ${method}; see the controller's log` });
      },
    );
  };
}

/** `current()` is the local controller once the quorum member exists; calls before that are NOT_CONTROLLER. */
export function addControllerService(server: grpc.Server, current: () => ControllerApi | undefined, logger: Logger): void {
  const on = <R>(call: (api: ControllerApi) => Promise<R>): Promise<R> => {
    const api = current();
    return api ? call(api) : Promise.reject(protocolError("NOT_CONTROLLER", "this node's controller is still starting; retry shortly"));
  };
  const handlers: ControllerHandlers = {
    RegisterBroker: unary(logger, "RegisterBroker", (r) => on((api) => api.registerBroker(r))),
    BrokerHeartbeat: unary(logger, "BrokerHeartbeat", (r) => on((api) => api.brokerHeartbeat(r))),
    CreateTopics: unary(logger, "CreateTopics", (r) => on((api) => api.createTopics(r))),
    DeleteTopics: unary(logger, "DeleteTopics", (r) => on((api) => api.deleteTopics(r))),
    CreatePartitions: unary(logger, "CreatePartitions", (r) => on((api) => api.createPartitions(r))),
    AlterConfigs: unary(logger, "AlterConfigs", (r) => on((api) => api.alterConfigs(r))),
    ElectLeaders: unary(logger, "ElectLeaders", (r) => on((api) => api.electLeaders(r))),
    DescribeQuorum: unary(logger, "DescribeQuorum", () => on((api) => api.describeQuorum())),
    DescribeCluster: unary(logger, "DescribeCluster", () => on((api) => api.describeCluster())),
    AlterPartition: unary(logger, "AlterPartition", (r) => on((api) => api.alterPartition(r))),
  };
  server.addService(loadCastleProto().castle.v1.Controller.service, handlers);
}

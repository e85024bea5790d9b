#!/usr/bin/env node
// A castle.v1.Broker server whose Produce does nothing: the gRPC transport's own ceiling on
// this machine, for bench:produce to compare Castle against. Prints its port on stdout.
import { silentLogger } from "@castle/common";
import { loadCastleProto, widenFlowControlWindows } from "@castle/protocol";
import * as grpc from "@grpc/grpc-js";

const server = new grpc.Server({ "grpc.max_receive_message_length": -1, "grpc.max_send_message_length": -1 });
const empty = (_call, callback) => callback(null, {});
server.addService(loadCastleProto().castle.v1.Broker.service, { Produce: empty, Fetch: empty, ListOffsets: empty, Metadata: empty });
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  widenFlowControlWindows(server, silentLogger);
  console.log(port);
});
process.on("SIGTERM", () => server.forceShutdown());

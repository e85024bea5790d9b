// One gRPC call to a node's client port with the raw generated stubs, for tests that speak the
// wire protocol directly (bad requests, fields the client never sends).

import { loadCastleProto } from "@castle/protocol";
import * as grpc from "@grpc/grpc-js";

export type CastleService = "Broker" | "Admin" | "Group";

type UnaryMethod<Res> = (
  request: unknown,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, response: Res) => void,
) => void;

const GRPC_CALL_TIMEOUT_MS_DEFAULT = 15_000;

/** Calls `service.method(request)` on 127.0.0.1:`port` (or a host:port) and closes the channel after. */
export function grpcCall<Res>(
  target: number | string,
  service: CastleService,
  method: string,
  request: unknown,
  timeoutMs = GRPC_CALL_TIMEOUT_MS_DEFAULT,
): Promise<Res> {
  const address = typeof target === "number" ? `127.0.0.1:${target}` : target;
  const client = new (loadCastleProto().castle.v1[service])(address, grpc.credentials.createInsecure());
  const fn = (client as unknown as Record<string, UnaryMethod<Res> | undefined>)[method];
  if (!fn) {
    client.close();
    return Promise.reject(new Error(`castle.v1.${service} has no method ${method}`));
  }
  return new Promise<Res>((resolve, reject) => {
    fn.call(client, request, { deadline: Date.now() + timeoutMs }, (error, response) => {
      client.close();
      if (error) reject(error);
      else resolve(response);
    });
  });
}

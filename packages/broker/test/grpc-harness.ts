// In-process node plus raw gRPC stubs (no @castle/client), so broker tests exercise the
// wire contract directly.

import { type RunningNode, startNode } from "@castle/broker";
import { silentLogger } from "@castle/common";
import { type AdminClient, type BrokerClient, loadCastleProto } from "@castle/protocol";
import { loopbackNodeFlags, TempDir } from "@castle/testkit";
import * as grpc from "@grpc/grpc-js";

export interface Harness {
  dir: TempDir;
  node: RunningNode;
  broker: BrokerClient;
  admin: AdminClient;
  call<Res>(client: grpc.Client, method: string, request: unknown): Promise<Res>;
  restart(overrides?: Record<string, string>): Promise<void>;
  close(): Promise<void>;
}

export async function startHarness(overrides: Record<string, string> = {}, dir = new TempDir()): Promise<Harness> {
  const flags = (extra: Record<string, string>) => loopbackNodeFlags(dir.join("data"), { ...overrides, ...extra });
  const proto = loadCastleProto();
  const connect = (port: number) => {
    const options = { "grpc.max_receive_message_length": -1, "grpc.max_send_message_length": -1 };
    return {
      broker: new proto.castle.v1.Broker(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), options),
      admin: new proto.castle.v1.Admin(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), options),
    };
  };
  const harness: Harness = {
    dir,
    node: await startNode({ flags: flags({}) }, { logger: silentLogger }),
    broker: undefined as unknown as BrokerClient,
    admin: undefined as unknown as AdminClient,
    call<Res>(client: grpc.Client, method: string, request: unknown): Promise<Res> {
      return new Promise((resolve, reject) => {
        const fn = (
          client as unknown as Record<string, (r: unknown, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: Res) => void) => void>
        )[method];
        if (!fn) throw new Error(`no method ${method}`);
        fn.call(client, request, { deadline: Date.now() + 15000 }, (error, response) => (error ? reject(error) : resolve(response)));
      });
    },
    async restart(extra = {}) {
      harness.broker.close();
      harness.admin.close();
      await harness.node.close();
      harness.node = await startNode({ flags: flags(extra) }, { logger: silentLogger });
      Object.assign(harness, connect(harness.node.clientPort));
    },
    async close() {
      harness.broker.close();
      harness.admin.close();
      await harness.node.close();
      dir.cleanup();
    },
  };
  Object.assign(harness, connect(harness.node.clientPort));
  return harness;
}

// The composition root: builds every subsystem of a node from its config and ports, starts
// the listeners and the periodic work, and tears it all down in reverse order.

import type { Server as HttpServer } from "node:http";
import { type Clock, JsonLogger, type Logger, systemClock } from "@castle/common";
import { widenFlowControlWindows } from "@castle/protocol";
import { LogManager } from "@castle/storage";
import * as grpc from "@grpc/grpc-js";
import { type BrokerConfig, type ConfigSources, loadBrokerConfig } from "./config/broker-config.js";
import { addCastleServices } from "./grpc/grpc-services.js";
import type { BrokerContext } from "./handlers/broker-context.js";
import { startHttpServer } from "./http/http-server.js";
import { BrokerMetrics } from "./metrics/broker-metrics.js";
import { FetchPurgatory } from "./replica/fetch-purgatory.js";
import { ReplicaManager } from "./replica/replica-manager.js";
import { ensureNodeIdentity } from "./storage-format/node-identity.js";
import { TopicAdmin } from "./topics/topic-admin.js";
import { TopicRegistry } from "./topics/topic-registry.js";

export interface NodePorts {
  clock?: Clock;
  logger?: Logger;
}

export interface RunningNode {
  readonly config: BrokerConfig;
  readonly clusterId: string;
  readonly clientPort: number;
  readonly httpPort: number;
  readonly context: BrokerContext;
  close(): Promise<void>;
}

const SHUTDOWN_GRACE_MS = 2000;
/** Starts a node from config sources (file/env/flags) or a ready config. */
export async function startNode(source: ConfigSources | BrokerConfig, ports: NodePorts = {}): Promise<RunningNode> {
  const config = "nodeId" in source ? source : loadBrokerConfig(source);
  const clock = ports.clock ?? systemClock;
  const logger = ports.logger ?? new JsonLogger(config.logLevel, { nodeId: config.nodeId });

  // Identity first: a directory of another cluster or node is refused before anything opens it.
  const identity = ensureNodeIdentity({
    dataDir: config.dataDir,
    clusterId: config.clusterId,
    nodeId: config.nodeId,
    singleNode: config.singleNode,
  });
  if (identity.source !== "existing") {
    logger.info(identity.source === "formatted" ? "formatted data directory" : "wrote meta.properties from cluster-metadata.json", {
      dataDir: config.dataDir,
      clusterId: identity.meta.clusterId,
    });
  }
  const registry = TopicRegistry.open(config.dataDir, identity.meta.clusterId);
  let logs: LogManager;
  try {
    logs = await LogManager.open({ dataDir: config.dataDir, clock, logger: logger.child({ component: "storage" }) });
  } catch (error) {
    const message = (error as Error).message;
    if (/lock/i.test(message)) {
      throw new Error(
        `data directory ${config.dataDir} is in use by another Castle process (${message}); stop it or choose another --data-dir`,
      );
    }
    throw error;
  }
  const purgatory = new FetchPurgatory(config.fetchWaitersMax);
  let replicas: ReplicaManager | undefined;
  const metrics = new BrokerMetrics({ forEachPartition: (visit) => replicas?.forEachPartition(visit) }, config.nodeId);
  replicas = new ReplicaManager({ logs, registry, config, metrics, purgatory, clock, logger });
  const topicAdmin = new TopicAdmin({ registry, replicas, config, clock, logger });
  await topicAdmin.openAll();

  const server = new grpc.Server({
    "grpc.max_receive_message_length": config.socketRequestMaxBytes,
    "grpc.max_send_message_length": -1,
  });
  const advertised = { host: config.advertisedHost, port: 0 };
  const context: BrokerContext = { config, registry, replicas, topicAdmin, purgatory, metrics, clock, logger, advertised };
  const services = addCastleServices(server, context);
  const clientPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${config.listenerHost}:${config.clientPort}`, grpc.ServerCredentials.createInsecure(), (error, port) =>
      error
        ? reject(
            new Error(
              `cannot listen on ${config.listenerHost}:${config.clientPort} for clients: ${error.message}; free the port or set client.port`,
            ),
          )
        : resolve(port),
    ),
  );
  advertised.port = clientPort;
  widenFlowControlWindows(server, logger);

  let ready = false;
  let http: { server: HttpServer; port: number };
  try {
    http = await startHttpServer(config.listenerHost, config.httpPort, { registry: metrics.registry, isReady: () => ready });
  } catch (error) {
    server.forceShutdown();
    await logs.close();
    throw new Error(
      `cannot listen on ${config.listenerHost}:${config.httpPort} for HTTP: ${(error as Error).message}; free the port or set http.port`,
    );
  }

  const timers = [
    setInterval(() => {
      logs.enforceRetention().catch((error: unknown) => logger.error("retention check failed", { error }));
    }, config.logRetentionCheckIntervalMs),
    setInterval(() => {
      logs.maybeFlush().catch((error: unknown) => logger.error("scheduled flush failed", { error }));
    }, config.logFlushSchedulerIntervalMs),
  ];
  for (const timer of timers) timer.unref();
  ready = true;
  logger.info("node started", { clusterId: registry.clusterId, clientPort, httpPort: http.port, dataDir: config.dataDir });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      ready = false;
      for (const timer of timers) clearInterval(timer);
      purgatory.completeAll();
      services.closeStreams();
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, SHUTDOWN_GRACE_MS);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      await new Promise<void>((resolve) => http.server.close(() => resolve()));
      http.server.closeAllConnections();
      await logs.close();
      logger.info("node stopped", {});
    })();
    return closing;
  };
  return { config, clusterId: registry.clusterId, clientPort, httpPort: http.port, context, close };
}

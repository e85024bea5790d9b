// The composition root: builds every subsystem of a node from its config and ports, starts
// the listeners and the periodic work, and tears it all down in reverse order.
//
// Every node runs a member of the metadata quorum (packages/metadata): a voter when it has the
// controller role, else an observer that follows the log. The Raft listener (controller.port)
// also serves castle.v1.Controller, through which brokers register and heartbeat and any node
// forwards the admin requests it gets. A node with the broker role opens its partition logs
// as the metadata image assigns them, serves clients on client.port, and registers with the
// active controller; a controller-only node serves no clients. With controller.quorum.voters
// empty (the single-node default) the node is the quorum's only voter and startNode returns
// once it is registered and unfenced, so it is usable at once.

import { join } from "node:path";
import { type Clock, JsonLogger, type Logger, systemClock } from "@castle/common";
import { MetadataQuorum } from "@castle/metadata";
import { widenFlowControlWindows } from "@castle/protocol";
import { LogManager } from "@castle/storage";
import * as grpc from "@grpc/grpc-js";
import { type BrokerConfig, type ConfigSources, loadBrokerConfig } from "./config/broker-config.js";
import { BrokerLifecycle, brokerEndpoints } from "./controller/broker-lifecycle.js";
import { type ControllerApi, LocalControllerApi } from "./controller/controller-api.js";
import { ControllerChannel } from "./controller/controller-channel.js";
import { addControllerService } from "./controller/controller-service.js";
import { GroupCoordinator } from "./group/group-coordinator.js";
import { systemTimers } from "./group/group-ports.js";
import { addCastleServices, type CastleServices } from "./grpc/grpc-services.js";
import type { BrokerContext } from "./handlers/broker-context.js";
import { startHttpServer } from "./http/http-server.js";
import { BrokerMetrics } from "./metrics/broker-metrics.js";
import { ControllerMetrics } from "./metrics/controller-metrics.js";
import { FetchPurgatory } from "./replica/fetch-purgatory.js";
import { OFFSETS_TOPIC, ReplicatedOffsetsLog } from "./replica/offsets-topic.js";
import { PartitionReconciler } from "./replica/partition-reconciler.js";
import { ReplicaManager } from "./replica/replica-manager.js";
import { ensureNodeIdentity } from "./storage-format/node-identity.js";

export interface NodePorts {
  clock?: Clock;
  logger?: Logger;
  /** Called once if the node can never join its cluster (the controller refused it for good); it stays up but unready. */
  onFatal?: (error: Error) => void;
}

export interface RunningNode {
  readonly config: BrokerConfig;
  readonly clusterId: string;
  /** -1 on a controller-only node (it serves no clients). */
  readonly clientPort: number;
  readonly controllerPort: number;
  readonly httpPort: number;
  /** Undefined on a controller-only node. */
  readonly context: BrokerContext | undefined;
  readonly quorum: MetadataQuorum;
  /** Resolves once the node is ready (/readyz): a broker registered and unfenced, a controller-only node with a known leader. */
  whenReady(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/** Subdirectory of data.dir holding the metadata quorum's Raft log and snapshots. */
export const METADATA_LOG_DIR = "__cluster_metadata";
const SHUTDOWN_GRACE_MS = 2000;
/** The single-node default waits this long in startNode for its own registration. */
const SINGLE_NODE_READY_TIMEOUT_MS = 15_000;
/**
 * Longest a controller call may take, retries included: below the clients' default request
 * timeout (30 s), so a client waiting on a cluster without a quorum gets the node's
 * "no active controller" answer instead of its own deadline.
 */
const CONTROLLER_REQUEST_TIMEOUT_MS = 15_000;
/** acks=all produces waiting for replication at once; past it one is answered REQUEST_TIMED_OUT at once. */
const PRODUCE_WAITERS_MAX = 100_000;
/** controller.quorum.election.timeout.ms is this many Raft ticks; the leader heartbeats every tick. */
const RAFT_ELECTION_TICKS = 10;
/** Longest a stopping broker waits for controlled shutdown (when the whole cluster stops, no quorum is left to answer). */
const CONTROLLED_SHUTDOWN_TIMEOUT_MS_MAX = 5_000;

/** Starts a node from config sources (file/env/flags) or a ready config. */
export async function startNode(source: ConfigSources | BrokerConfig, ports: NodePorts = {}): Promise<RunningNode> {
  const config = "nodeId" in source ? source : loadBrokerConfig(source);
  const clock = ports.clock ?? systemClock;
  const logger = ports.logger ?? new JsonLogger(config.logLevel, { nodeId: config.nodeId });
  const isBroker = config.processRoles.has("broker");
  const isController = config.processRoles.has("controller");

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
  const clusterId = identity.meta.clusterId;
  const cleanups: (() => Promise<void> | void)[] = [];
  const undo = async (): Promise<void> => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  };

  let logs: LogManager | undefined;
  if (isBroker) {
    try {
      logs = await LogManager.open({
        dataDir: config.dataDir,
        clock,
        logger: logger.child({ component: "storage" }),
        otherOwners: [METADATA_LOG_DIR],
        cleaner: { enable: config.logCleanerEnable, dedupeBufferBytes: config.logCleanerDedupeBufferSize },
      });
    } catch (error) {
      const message = (error as Error).message;
      if (/lock/i.test(message)) {
        throw new Error(
          `data directory ${config.dataDir} is in use by another Castle process (${message}); stop it or choose another --data-dir`,
        );
      }
      throw error;
    }
    const opened = logs;
    cleanups.push(() => opened.close());
  }

  let replicas: ReplicaManager | undefined;
  const metrics = new BrokerMetrics({ forEachPartition: (visit) => replicas?.forEachPartition(visit) }, config.nodeId, {
    replicationHealth: () => replicas?.replicationHealth(),
    followerLags: () => replicas?.followerLags() ?? [],
  });

  // The metadata quorum member. The controller service is bound on its listener before the
  // member exists, so it reaches the local controller through this holder.
  const local: { api: ControllerApi | undefined } = { api: undefined };
  const voters = config.controllerQuorumVoters;
  let quorum: MetadataQuorum;
  try {
    quorum = await MetadataQuorum.start(
      {
        nodeId: config.nodeId,
        clusterId,
        dataDir: join(config.dataDir, METADATA_LOG_DIR),
        listen: { host: config.listenerHost, port: config.controllerPort },
        peers: Object.fromEntries(voters.map((v) => [v.id, `${v.host}:${v.port}`])),
        voters: voters.map((v) => v.id),
        observers: isController ? [] : [config.nodeId],
        controller: {
          brokerSessionTimeoutMs: config.brokerSessionTimeoutMs,
          defaultNumPartitions: config.numPartitions,
          defaultReplicationFactor: config.defaultReplicationFactor,
          deleteTopicEnable: config.deleteTopicEnable,
          autoLeaderRebalanceEnable: config.autoLeaderRebalanceEnable,
          leaderImbalancePerBrokerPercentage: config.leaderImbalancePerBrokerPercentage,
          leaderImbalanceCheckIntervalMs: config.leaderImbalanceCheckIntervalSeconds * 1000,
        },
        snapshotEveryEntries: config.metadataSnapshotEveryEntries,
        snapshotEveryBytes: config.metadataLogMaxRecordBytesBetweenSnapshots,
        raftTickMs: Math.max(1, Math.round(config.controllerQuorumElectionTimeoutMs / RAFT_ELECTION_TICKS)),
        raftElectionTicks: RAFT_ELECTION_TICKS,
        raftHeartbeatTicks: 1,
      },
      {
        clock,
        logger,
        metricsRegistry: metrics.registry,
        ...(isController ? { addServices: (server: grpc.Server) => addControllerService(server, () => local.api, logger) } : {}),
      },
    );
  } catch (error) {
    await undo();
    if (/EADDRINUSE|cannot listen/i.test((error as Error).message)) {
      throw new Error(
        `cannot listen on ${config.listenerHost}:${config.controllerPort} for the controller quorum: ${(error as Error).message}; free the port or set controller.port`,
      );
    }
    throw error;
  }
  cleanups.push(() => quorum.close());
  if (isController) local.api = new LocalControllerApi(quorum, clock);
  const controllerMetrics = new ControllerMetrics(metrics.registry, quorum, clock);
  const channel = new ControllerChannel(
    { voterAddresses: voters.map((v) => `${v.host}:${v.port}`), requestTimeoutMs: CONTROLLER_REQUEST_TIMEOUT_MS },
    quorum,
    local.api,
    clock,
    logger.child({ component: "controller-channel" }),
  );
  cleanups.push(() => channel.close());

  // The broker: partition logs as the image assigns them, the client listener, registration.
  let context: BrokerContext | undefined;
  let services: CastleServices | undefined;
  let server: grpc.Server | undefined;
  let lifecycle: BrokerLifecycle | undefined;
  let clientPort = -1;
  const purgatory = new FetchPurgatory(config.fetchWaitersMax);
  if (isBroker && logs) {
    const brokerLogs = logs;
    const epochOf = { lifecycle: undefined as BrokerLifecycle | undefined };
    replicas = new ReplicaManager({
      logs: brokerLogs,
      image: () => quorum.image,
      config,
      metrics,
      purgatory,
      producePurgatory: new FetchPurgatory(PRODUCE_WAITERS_MAX),
      controller: channel,
      brokerEpoch: () => epochOf.lifecycle?.epoch ?? -1,
      clock,
      logger: logger.child({ component: "replica-manager" }),
    });
    const manager = replicas;
    cleanups.push(() => manager.close());
    // Group coordination follows leadership of the __consumer_offsets partitions.
    const groups = new GroupCoordinator({
      config,
      log: new ReplicatedOffsetsLog(manager, config.offsetsCommitTimeoutMs, clock),
      clock,
      timers: systemTimers,
      logger: logger.child({ component: "group-coordinator" }),
      offsetsPartitionCount: () => quorum.image.topic(OFFSETS_TOPIC)?.partitions.length ?? config.offsetsTopicNumPartitions,
    });
    manager.onLeadershipChange((topic, partition, leading) => {
      if (topic !== OFFSETS_TOPIC) return;
      if (leading) void groups.onElected(partition);
      else groups.onResigned(partition);
    });
    cleanups.push(() => groups.close());
    metrics.trackGroups({ stats: () => groups.stats(), highWatermark: (t, p) => manager.localLog(t, p)?.highWatermark });
    const reconciler = new PartitionReconciler({
      nodeId: config.nodeId,
      logs: brokerLogs,
      logConfigFor: (configs) => manager.logConfigFor(configs),
      onReconciled: (image) => manager.applyImage(image),
      logger: logger.child({ component: "reconciler" }),
    });
    reconciler.reportStrayLogs(quorum.image);
    reconciler.update(quorum.image);
    const unsubscribe = quorum.onImage((image) => reconciler.update(image));
    cleanups.push(async () => {
      unsubscribe();
      await reconciler.idle();
    });
    context = {
      config,
      clusterId,
      quorum,
      image: () => quorum.image,
      controller: channel,
      reconciler,
      replicas,
      purgatory,
      groups,
      metrics,
      clock,
      logger,
    };
    const grpcServer = new grpc.Server({
      "grpc.max_receive_message_length": config.socketRequestMaxBytes,
      "grpc.max_send_message_length": -1,
    });
    server = grpcServer;
    services = addCastleServices(grpcServer, context);
    try {
      clientPort = await new Promise<number>((resolve, reject) =>
        grpcServer.bindAsync(`${config.listenerHost}:${config.clientPort}`, grpc.ServerCredentials.createInsecure(), (error, port) =>
          error
            ? reject(
                new Error(
                  `cannot listen on ${config.listenerHost}:${config.clientPort} for clients: ${error.message}; free the port or set client.port`,
                ),
              )
            : resolve(port),
        ),
      );
    } catch (error) {
      grpcServer.forceShutdown();
      await undo();
      throw error;
    }
    widenFlowControlWindows(grpcServer, logger);
    lifecycle = new BrokerLifecycle(
      {
        brokerId: config.nodeId,
        clusterId,
        endpoints: brokerEndpoints(
          config.advertisedHost,
          config.advertisedPort > 0 ? config.advertisedPort : clientPort,
          isController ? undefined : quorum.port,
        ),
        rack: config.brokerRack,
        heartbeatIntervalMs: config.brokerHeartbeatIntervalMs,
        controlledShutdownTimeoutMs: Math.min(config.brokerSessionTimeoutMs, CONTROLLED_SHUTDOWN_TIMEOUT_MS_MAX),
        appliedOffset: () => quorum.appliedOffset,
      },
      channel,
      clock,
      logger.child({ component: "broker-lifecycle" }),
      (error) => {
        logger.error("this node cannot join the cluster; stop it and fix the cause", { error: error.message });
        ports.onFatal?.(error);
      },
    );
    controllerMetrics.trackBroker(lifecycle);
    epochOf.lifecycle = lifecycle;
  }

  const isReady = (): boolean => {
    if (closing) return false;
    if (lifecycle) return lifecycle.state === "unfenced";
    return quorum.controllerId > 0;
  };
  let closing: Promise<void> | undefined;
  let http: Awaited<ReturnType<typeof startHttpServer>>;
  try {
    http = await startHttpServer(config.listenerHost, config.httpPort, { registry: metrics.registry, isReady });
  } catch (error) {
    server?.forceShutdown();
    await undo();
    throw new Error(
      `cannot listen on ${config.listenerHost}:${config.httpPort} for HTTP: ${(error as Error).message}; free the port or set http.port`,
    );
  }

  const timers: NodeJS.Timeout[] = [];
  if (logs) {
    const brokerLogs = logs;
    timers.push(
      setInterval(() => {
        brokerLogs.enforceRetention().catch((error: unknown) => logger.error("retention check failed", { error }));
      }, config.logRetentionCheckIntervalMs),
      setInterval(() => {
        brokerLogs.maybeFlush().catch((error: unknown) => logger.error("scheduled flush failed", { error }));
      }, config.logFlushSchedulerIntervalMs),
      setInterval(() => {
        brokerLogs.maybeCleanLogs().catch((error: unknown) => logger.error("log cleaner pass failed", { error }));
      }, config.logCleanerBackoffMs),
    );
  }
  for (const timer of timers) timer.unref();
  lifecycle?.start();

  const whenReady = async (timeoutMs: number): Promise<void> => {
    if (lifecycle) return lifecycle.whenUnfenced(timeoutMs);
    const deadline = clock.monotonicMs() + timeoutMs;
    while (!isReady()) {
      if (clock.monotonicMs() > deadline) throw new Error(`controller ${config.nodeId} saw no quorum leader within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  const close = (): Promise<void> => {
    closing ??= (async () => {
      for (const timer of timers) clearInterval(timer);
      // Controlled shutdown first, while the quorum member and the channel still work.
      await lifecycle?.shutdown();
      purgatory.completeAll();
      services?.closeStreams();
      if (server) {
        const grpcServer = server;
        await new Promise<void>((resolve) => {
          const force = setTimeout(() => {
            grpcServer.forceShutdown();
            resolve();
          }, SHUTDOWN_GRACE_MS);
          grpcServer.tryShutdown(() => {
            clearTimeout(force);
            resolve();
          });
        });
      }
      await new Promise<void>((resolve) => http.server.close(() => resolve()));
      http.server.closeAllConnections();
      await undo();
      logger.info("node stopped", {});
    })();
    return closing;
  };

  if (config.singleNode) {
    try {
      await whenReady(SINGLE_NODE_READY_TIMEOUT_MS);
    } catch (error) {
      await close();
      throw error;
    }
  }
  logger.info("node started", {
    clusterId,
    clientPort,
    controllerPort: quorum.port,
    httpPort: http.port,
    dataDir: config.dataDir,
    roles: [...config.processRoles].sort().join(","),
  });
  return { config, clusterId, clientPort, controllerPort: quorum.port, httpPort: http.port, context, quorum, whenReady, close };
}

// A cluster of real nodes in the test's own process: every node a voter of the metadata quorum
// and a broker, on loopback, with formatted data directories under one TempDir and a silent
// logger. Fast to start and to inspect (each RunningNode's quorum, image and context are at
// hand); use startCastleCluster instead when the test needs kill -9 or separate processes.

import { formatStorage, type RunningNode, startNode } from "@castle/broker";
import { silentLogger } from "@castle/common";
import { allocatePorts } from "./cluster/castle-cluster.js";
import { FaultProxy } from "./fault-proxy/fault-proxy.js";
import { loopbackNodeFlags } from "./in-process-node.js";
import { TempDir } from "./temp-dir.js";
import { waitUntil } from "./wait.js";

export interface InProcessClusterOptions {
  /** Number of combined (controller + broker) nodes, with ids 1..size. */
  readonly size: number;
  /** Flags for every node, over the loopback defaults (e.g. faster heartbeats). */
  readonly overrides?: Record<string, string>;
  /**
   * Route every follower's fetches from every leader through its own FaultProxy
   * (replicationLink(from, to)), so a test can cut replication while clients still reach the
   * leader. Sets each node's client.port and replica.fetch.addresses.
   */
  readonly proxiedReplication?: boolean;
  readonly clusterId?: string;
  /** Bound on each node becoming ready (registered and unfenced) at start and restart. */
  readonly readyTimeoutMs?: number;
}

export interface InProcessCluster {
  readonly dir: TempDir;
  readonly ids: readonly number[];
  /** The running node with this id; throws if it is stopped. */
  node(id: number): RunningNode;
  /** The flags node `id` starts with (the same on every restart). */
  flags(id: number): Record<string, string>;
  dataDir(id: number): string;
  /** The node ids running now. */
  runningIds(): number[];
  /** The active controller as the running nodes see it, once they agree on one (bounded wait). */
  activeControllerId(timeoutMs?: number): Promise<number>;
  /** Closes node `id` (a controlled shutdown while the quorum answers). */
  stop(id: number): Promise<void>;
  /** Starts node `id` again with the same flags and data directory, and waits until it is ready. */
  restart(id: number): Promise<RunningNode>;
  /** Node `from`'s replication path to node `to` (with proxiedReplication; throws otherwise). */
  replicationLink(from: number, to: number): FaultProxy;
  /** Closes every running node and removes the data directories. */
  close(): Promise<void>;
}

const DEFAULT_CLUSTER_ID = "in-process-cluster";
const DEFAULT_READY_TIMEOUT_MS = 15_000;

/** Formats and starts `size` nodes concurrently (a quorum needs a majority up), then waits until all are ready. */
export async function startInProcessCluster(options: InProcessClusterOptions): Promise<InProcessCluster> {
  const dir = new TempDir("castle-cluster-");
  const ids = Array.from({ length: options.size }, (_, i) => i + 1);
  const readyTimeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  const clusterId = options.clusterId ?? DEFAULT_CLUSTER_ID;
  const controllerPorts = await allocatePorts(ids.length);
  const voters = ids.map((id, i) => `${id}@127.0.0.1:${controllerPorts[i]}`).join(",");
  const links = options.proxiedReplication ? await replicationLinks(ids) : undefined;
  const flagsById = new Map(
    ids.map((id, i) => [
      id,
      loopbackNodeFlags(dir.join(`node-${id}`), {
        "node.id": String(id),
        "controller.quorum.voters": voters,
        "controller.port": String(controllerPorts[i]),
        ...options.overrides,
        ...links?.flags(id),
      }),
    ]),
  );
  const running = new Map<number, RunningNode>();
  const flags = (id: number): Record<string, string> => {
    const found = flagsById.get(id);
    if (!found) throw new Error(`no node ${id} in this cluster (ids ${ids.join(", ")})`);
    return found;
  };
  const dataDir = (id: number): string => flags(id)["data.dir"] as string;
  const start = async (id: number): Promise<RunningNode> => {
    const node = await startNode({ flags: flags(id) }, { logger: silentLogger });
    running.set(id, node);
    return node;
  };

  const cluster: InProcessCluster = {
    dir,
    ids,
    node(id) {
      const node = running.get(id);
      if (!node) throw new Error(`node ${id} is not running`);
      return node;
    },
    flags,
    dataDir,
    runningIds: () => [...running.keys()].sort((a, b) => a - b),
    activeControllerId(timeoutMs = readyTimeoutMs) {
      return waitUntil(
        () => {
          const seen = new Set([...running.values()].map((n) => n.quorum.controllerId));
          const [only] = seen;
          return seen.size === 1 && only !== undefined && only > 0 && running.get(only)?.quorum.isActiveController ? only : undefined;
        },
        "the running nodes to agree on an active controller",
        timeoutMs,
      );
    },
    async stop(id) {
      const node = cluster.node(id);
      running.delete(id);
      await node.close();
    },
    async restart(id) {
      if (running.has(id)) throw new Error(`node ${id} is still running; stop it first`);
      const node = await start(id);
      await node.whenReady(readyTimeoutMs);
      return node;
    },
    replicationLink(from, to) {
      const link = links?.proxies.get(`${from}->${to}`);
      if (!link) throw new Error(`no replication link ${from}->${to}: start the cluster with proxiedReplication`);
      return link;
    },
    async close() {
      const nodes = [...running.values()];
      running.clear();
      await Promise.allSettled(nodes.map((n) => n.close()));
      for (const link of links?.proxies.values() ?? []) await link.close();
      dir.cleanup();
    },
  };

  try {
    for (const id of ids) formatStorage(dataDir(id), { clusterId, nodeId: id });
    const started = await Promise.allSettled(ids.map((id) => start(id)));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed) throw failed.reason;
    await Promise.all(ids.map((id) => cluster.node(id).whenReady(readyTimeoutMs)));
  } catch (error) {
    await cluster.close();
    throw error;
  }
  return cluster;
}

/** One proxy per directed pair of nodes, in front of the target's client port, and the flags that route through them. */
async function replicationLinks(
  ids: readonly number[],
): Promise<{ proxies: Map<string, FaultProxy>; flags: (id: number) => Record<string, string> }> {
  const ports = await allocatePorts(ids.length);
  const clientPorts = new Map(ids.map((id, i) => [id, ports[i] as number]));
  const proxies = new Map<string, FaultProxy>();
  for (const from of ids) {
    for (const to of ids) {
      if (from === to) continue;
      proxies.set(
        `${from}->${to}`,
        await FaultProxy.start({ target: { host: "127.0.0.1", port: clientPorts.get(to) as number }, name: `${from}->${to}` }),
      );
    }
  }
  const flags = (id: number): Record<string, string> => ({
    "client.port": String(clientPorts.get(id)),
    "replica.fetch.addresses": ids
      .filter((j) => j !== id)
      .map((j) => `${j}@127.0.0.1:${proxies.get(`${id}->${j}`)?.port}`)
      .join(","),
  });
  return { proxies, flags };
}

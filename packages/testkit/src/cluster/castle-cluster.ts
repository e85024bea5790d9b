// A Castle cluster as real node processes on 127.0.0.1, for process-level tests and
// benchmarks: N voters of the metadata quorum (combined broker,controller or controller-only)
// and M broker-only nodes. Every port is chosen before the first start and every data dir is
// formatted with one cluster id, so a node killed or stopped comes back (restart) at the same
// addresses, on the same data dir, with the same config. Spawning is startNodeProcess's; this
// file only plans the cluster and keeps track of its nodes. Every wait is bounded and names
// what it waited for with the node's last log lines; only processes started here are
// signalled, each by its own pid.
//
// With `faults`, every connection is routed through a FaultNetwork (cluster.faults) started
// before the nodes: node i reaches node j's Raft/controller listener and its client listener
// (replication fetches) only through the (i -> j) proxies, and clients reach node j through the
// ("client" -> j) proxy, which is also the port j advertises. A test can then cut any link,
// one way or both, while the others keep working.

import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import http from "node:http";
import { formatQuorumVoters, formatStorage, newId, type ProcessRole } from "@castle/broker";
import { FaultNetwork } from "../fault-proxy/fault-network.js";
import type { ProxyTarget } from "../fault-proxy/proxied-connection.js";
import { type NodeProcess, startNodeProcess } from "../node-process.js";
import { TempDir } from "../temp-dir.js";
import { freePort, waitUntil } from "../wait.js";

export const CLUSTER_HOST = "127.0.0.1";
/** Nodes of one cluster at most (voters plus broker-only nodes): a test harness, not a fleet. */
export const CLUSTER_NODES_MAX = 32;
/** Ports each node gets: client, controller and http. */
export const PORTS_PER_NODE = 3;
export const DEFAULT_CLUSTER_START_TIMEOUT_MS = 30_000;
export const DEFAULT_CLUSTER_STOP_TIMEOUT_MS = 10_000;
export const DEFAULT_READY_TIMEOUT_MS = 30_000;
/** One /readyz request may take this long before it counts as "not ready yet". */
const READY_PROBE_TIMEOUT_MS = 1_000;
const READY_POLL_INTERVAL_MS = 50;
/** freePort calls per wanted port before allocatePorts gives up on finding distinct ones. */
const PORT_PICKS_PER_PORT_MAX = 4;

/**
 * Config keys the harness sets on every node from its plan; overriding them would break the
 * plan (addresses, identity, the voters list), so planCastleCluster refuses them in overrides.
 */
export const HARNESS_OWNED_KEYS: readonly string[] = [
  "node.id",
  "data.dir",
  "cluster.id",
  "process.roles",
  "controller.quorum.voters",
  "client.port",
  "controller.port",
  "http.port",
  "listener.host",
  "advertised.host",
];

/** Keys the harness also owns when `faults` routes the cluster through a FaultNetwork. */
export const FAULT_ROUTED_KEYS: readonly string[] = ["advertised.port", "replica.fetch.addresses"];

/** The FaultNetwork endpoint of the test's own clients (node endpoints are the node ids as strings). */
export const FAULT_CLIENT_ENDPOINT = "client";
/** FaultNetwork service names: a node's client listener (clients, replication fetches) and its controller listener (Raft, controller RPCs). */
export const CLIENT_SERVICE = "client";
export const CONTROLLER_SERVICE = "controller";

export interface CastleClusterFaultsOptions {
  /** Seed of the proxies' jitter draws (FaultNetworkOptions.seed). Default 0. */
  readonly seed?: number;
  /** Per connection; see FaultProxyOptions. */
  readonly heldBytesMax?: number;
}

export interface CastleClusterOptions {
  /** Voters of the metadata quorum: node ids 1..controllers. */
  readonly controllers: number;
  /** Broker-only nodes, ids after the voters. Default 0. */
  readonly brokers?: number;
  /** True (default): the voters are broker,controller; false: controller-only. */
  readonly combined?: boolean;
  /** Config for every node (--override key=value); not the keys in HARNESS_OWNED_KEYS. */
  readonly overrides?: Readonly<Record<string, string>>;
  /** Config for one node by id, applied after `overrides`. */
  readonly nodeOverrides?: Readonly<Record<number, Readonly<Record<string, string>>>>;
  /** Default: a new random id (`castle storage random-uuid`'s kind). */
  readonly clusterId?: string;
  /** How long each node may take to log "node started" (nodes start concurrently). */
  readonly startTimeoutMs?: number;
  /** After SIGTERM (stop, restart), SIGKILL follows after this long. */
  readonly stopTimeoutMs?: number;
  /** Node.js flags for the node processes (e.g. --cpu-prof); a function gets the node id. */
  readonly nodeArgs?: readonly string[] | ((id: number) => readonly string[]);
  /** Receives every stderr line (JSON logs) of every node; by default they are dropped. */
  readonly onLog?: (id: number, line: string) => void;
  /**
   * Route every node-to-node and client-to-node connection through a FaultNetwork
   * (cluster.faults); then the keys in FAULT_ROUTED_KEYS are the harness's too. Voters only
   * (brokers: 0): a broker-only node registers its real controller port as its Raft observer
   * address, which the active controller would dial around the proxies.
   */
  readonly faults?: boolean | CastleClusterFaultsOptions;
}

export interface CastleNodePorts {
  /** -1 for a node without the broker role (it opens no client listener). */
  readonly client: number;
  readonly controller: number;
  readonly http: number;
}

/** One node as planned: fixed for the cluster's life. */
export interface CastleNodePlan {
  readonly id: number;
  readonly roles: readonly ProcessRole[];
  readonly ports: CastleNodePorts;
  /** Every --override the node starts with: the harness's keys, then overrides, then nodeOverrides. */
  readonly overrides: Readonly<Record<string, string>>;
}

export interface CastleClusterPlan {
  readonly clusterId: string;
  /** controller.quorum.voters at the real ports (a routed node's own view is in its overrides). */
  readonly voters: string;
  readonly nodes: readonly CastleNodePlan[];
}

/** A node of a running cluster; pid and running follow its current process. */
export interface CastleClusterNode extends CastleNodePlan {
  readonly dataDir: string;
  /** The pid of the node's process while it runs, else undefined. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /**
   * Where clients reach the node: `127.0.0.1:<client port>`, or with `faults` the client's
   * proxy to it (its advertised port); "" for a controller-only node.
   */
  readonly bootstrap: string;
}

/** One node's view of the others when routed through a FaultNetwork: values of FAULT_ROUTED_KEYS and the voters list. */
export interface CastleNodeRoutes {
  /** controller.quorum.voters as this node dials them: its own real port, the others' proxies. */
  readonly voters: string;
  /** advertised.port: the clients' proxy to this node; undefined for a controller-only node. */
  readonly advertisedPort: number | undefined;
  /** replica.fetch.addresses: this node's proxies to every other broker's client listener. */
  readonly replicaFetchAddresses: string;
}

/** How many ports a cluster of these options needs (PORTS_PER_NODE for every node). */
export function clusterPortsNeeded(options: Pick<CastleClusterOptions, "controllers" | "brokers">): number {
  return (options.controllers + (options.brokers ?? 0)) * PORTS_PER_NODE;
}

/**
 * `count` distinct ports from `pick` (freePort by default): a port that was free a moment ago
 * can be handed out twice, so repeats are dropped. Throws after PORT_PICKS_PER_PORT_MAX picks
 * per wanted port.
 */
export async function allocatePorts(count: number, pick: () => Promise<number> = () => freePort(CLUSTER_HOST)): Promise<number[]> {
  const ports = new Set<number>();
  const picksMax = count * PORT_PICKS_PER_PORT_MAX;
  for (let picks = 0; ports.size < count; picks++) {
    if (picks >= picksMax) throw new Error(`found only ${ports.size} distinct free ports of ${count} in ${picksMax} tries`);
    ports.add(await pick());
  }
  return [...ports];
}

function checkCount(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer >= ${min}, got ${value}`);
}

function checkOverrides(where: string, overrides: Readonly<Record<string, string>>, ownedKeys: readonly string[]): void {
  const owned = Object.keys(overrides).filter((key) => ownedKeys.includes(key));
  if (owned.length > 0) {
    throw new Error(`${where} sets ${owned.join(", ")}, which the cluster harness sets itself from its plan; use the options instead`);
  }
}

/**
 * The cluster's layout from its options and `ports` (clusterPortsNeeded of them, distinct):
 * ids 1..controllers are the voters, then the broker-only nodes; node i takes ports
 * [3(i-1), 3(i-1)+3) as client, controller and http. Pure; throws on invalid options.
 */
export function planCastleCluster(options: CastleClusterOptions, ports: readonly number[], clusterId: string): CastleClusterPlan {
  const brokers = options.brokers ?? 0;
  checkCount("controllers", options.controllers, 1);
  checkCount("brokers", brokers, 0);
  const nodeCount = options.controllers + brokers;
  if (nodeCount > CLUSTER_NODES_MAX) throw new Error(`a cluster of ${nodeCount} nodes is over CLUSTER_NODES_MAX (${CLUSTER_NODES_MAX})`);
  const needed = clusterPortsNeeded(options);
  if (ports.length !== needed || new Set(ports).size !== needed) {
    throw new Error(
      `a cluster of ${nodeCount} nodes needs ${needed} distinct ports, got ${ports.length} (${new Set(ports).size} distinct)`,
    );
  }
  if (options.faults && brokers > 0) {
    throw new Error(
      "faults routes voters only (brokers: 0): a broker-only node registers its real controller port as its Raft observer address",
    );
  }
  const owned = options.faults ? [...HARNESS_OWNED_KEYS, ...FAULT_ROUTED_KEYS] : HARNESS_OWNED_KEYS;
  checkOverrides("overrides", options.overrides ?? {}, owned);
  for (const [id, overrides] of Object.entries(options.nodeOverrides ?? {})) {
    const nodeId = Number(id);
    if (!Number.isInteger(nodeId) || nodeId < 1 || nodeId > nodeCount) {
      throw new Error(`nodeOverrides names node ${id}, but the cluster's node ids are 1..${nodeCount}`);
    }
    checkOverrides(`nodeOverrides[${id}]`, overrides, owned);
  }

  const portsOf = (id: number) => {
    const base = (id - 1) * PORTS_PER_NODE;
    return { client: ports[base] as number, controller: ports[base + 1] as number, http: ports[base + 2] as number };
  };
  const voterIds = Array.from({ length: options.controllers }, (_, i) => i + 1);
  const voters = formatQuorumVoters(voterIds.map((id) => ({ id, host: CLUSTER_HOST, port: portsOf(id).controller })));
  const voterRoles: readonly ProcessRole[] = (options.combined ?? true) ? ["broker", "controller"] : ["controller"];

  const nodes = Array.from({ length: nodeCount }, (_, i): CastleNodePlan => {
    const id = i + 1;
    const roles = id <= options.controllers ? voterRoles : (["broker"] as const);
    const bound = portsOf(id);
    return {
      id,
      roles,
      // A controller-only node still gets client.port, so whatever it does with it cannot clash.
      ports: { ...bound, client: roles.includes("broker") ? bound.client : -1 },
      overrides: {
        "node.id": String(id),
        "cluster.id": clusterId,
        "process.roles": roles.join(","),
        "controller.quorum.voters": voters,
        "client.port": String(bound.client),
        "controller.port": String(bound.controller),
        "http.port": String(bound.http),
        "listener.host": CLUSTER_HOST,
        "advertised.host": CLUSTER_HOST,
        ...options.overrides,
        ...options.nodeOverrides?.[id],
      },
    };
  });
  return { clusterId, voters, nodes };
}

/** The FaultNetwork listeners of a plan: node id -> its client (brokers) and controller (voters) listeners at their real ports. */
export function faultListeners(plan: CastleClusterPlan): Record<string, Record<string, ProxyTarget>> {
  const listeners: Record<string, Record<string, ProxyTarget>> = {};
  for (const node of plan.nodes) {
    const services: Record<string, ProxyTarget> = {};
    if (node.roles.includes("broker")) services[CLIENT_SERVICE] = { host: CLUSTER_HOST, port: node.ports.client };
    if (node.roles.includes("controller")) services[CONTROLLER_SERVICE] = { host: CLUSTER_HOST, port: node.ports.controller };
    listeners[String(node.id)] = services;
  }
  return listeners;
}

/** What routeCastleCluster needs of a FaultNetwork: each endpoint's address book. */
export type FaultAddressBooks = Pick<FaultNetwork, "addressBook">;

/**
 * Each node's routes through `network` (started on faultListeners(plan), with
 * FAULT_CLIENT_ENDPOINT as a client): its voters list, its advertised port and its replica
 * fetch addresses, by node id. Pure given the address books.
 */
export function routeCastleCluster(plan: CastleClusterPlan, network: FaultAddressBooks): Map<number, CastleNodeRoutes> {
  const format = (book: ReadonlyMap<string, ProxyTarget>, skip?: string): string =>
    [...book]
      .filter(([id]) => id !== skip)
      .map(([id, address]) => `${id}@${address.host}:${address.port}`)
      .join(",");
  const clientBook = network.addressBook(FAULT_CLIENT_ENDPOINT, CLIENT_SERVICE);
  const routes = new Map<number, CastleNodeRoutes>();
  for (const node of plan.nodes) {
    const self = String(node.id);
    routes.set(node.id, {
      voters: format(network.addressBook(self, CONTROLLER_SERVICE)),
      advertisedPort: clientBook.get(self)?.port,
      replicaFetchAddresses: node.roles.includes("broker") ? format(network.addressBook(self, CLIENT_SERVICE), self) : "",
    });
  }
  return routes;
}

/** The plan with each node's routes applied to its overrides (the routed keys win over everything else). */
export function applyRoutes(plan: CastleClusterPlan, routes: ReadonlyMap<number, CastleNodeRoutes>): CastleClusterPlan {
  return {
    ...plan,
    nodes: plan.nodes.map((node) => {
      const route = routes.get(node.id);
      if (route === undefined) return node;
      const routed: Record<string, string> = { "controller.quorum.voters": route.voters };
      if (route.advertisedPort !== undefined) routed["advertised.port"] = String(route.advertisedPort);
      if (route.replicaFetchAddresses !== "") routed["replica.fetch.addresses"] = route.replicaFetchAddresses;
      return { ...node, overrides: { ...node.overrides, ...routed } };
    }),
  };
}

/** VmRSS of a live process from /proc/PID/status, in bytes. */
export function processRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error(`/proc/${pid}/status has no VmRSS line`);
  return Number(match[1]) * 1024;
}

/** One GET without keep-alive: the status and the start of the body, or the error's message. */
function probeHttp(url: string, timeoutMs: number): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const request = http.get(url, { agent: false, timeout: timeoutMs }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        if (body.length < 200) body += chunk;
      });
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body: body.trim() }));
      response.on("error", (error) => resolve({ error: error.message }));
    });
    request.on("timeout", () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on("error", (error) => resolve({ error: error.message }));
  });
}

/** The running cluster. Build it with startCastleCluster; always close() it. */
export class CastleCluster {
  readonly clusterId: string;
  /** controller.quorum.voters at the real ports (with `faults` each node dials its own proxies). */
  readonly voters: string;
  readonly nodes: readonly CastleClusterNode[];
  /** The proxies every connection goes through, with the `faults` option; closed by close(). */
  readonly faults: FaultNetwork | undefined;
  /** The current (or last) process of each node that has been started. */
  private readonly processes = new Map<number, NodeProcess>();
  /** Starts under way, so close() can wait for them and a node is never started twice. */
  private readonly starting = new Map<number, Promise<NodeProcess>>();
  private readonly plans = new Map<number, CastleNodePlan>();
  private closing: Promise<void> | undefined;
  /** Every child spawned and not yet exited, started or still starting. */
  private readonly children = new Set<ChildProcess>();
  /**
   * If the test process exits without close() (process.exit in a signal handler, mocha --exit),
   * the nodes go with it (SIGKILL, by pid) and so, best effort, do their data dirs.
   */
  private readonly killOnExit = (): void => {
    for (const child of this.children) child.kill("SIGKILL");
    try {
      this.dir.cleanup();
    } catch {
      // A dying node may still hold a file; the dir is under the OS's temp dir either way.
    }
  };

  private constructor(
    plan: CastleClusterPlan,
    private readonly dir: TempDir,
    private readonly options: CastleClusterOptions,
    faults: FaultNetwork | undefined,
  ) {
    this.clusterId = plan.clusterId;
    this.voters = plan.voters;
    this.faults = faults;
    const processes = this.processes;
    this.nodes = plan.nodes.map((node) => {
      this.plans.set(node.id, node);
      const dataDir = dir.join(`node-${node.id}`);
      const advertised = faults !== undefined && node.ports.client >= 0 ? node.overrides["advertised.port"] : undefined;
      const bootstrap = node.ports.client >= 0 ? `${CLUSTER_HOST}:${advertised ?? node.ports.client}` : "";
      return {
        ...node,
        dataDir,
        bootstrap,
        get pid() {
          const current = processes.get(node.id);
          return current?.running ? current.pid : undefined;
        },
        get running() {
          return processes.get(node.id)?.running ?? false;
        },
      };
    });
    process.once("exit", this.killOnExit);
  }

  /**
   * Plans the cluster (with `faults`, starts its FaultNetwork and routes each node through it),
   * formats every data dir, starts every node at once and waits for each "node started".
   */
  static async start(options: CastleClusterOptions): Promise<CastleCluster> {
    const ports = await allocatePorts(clusterPortsNeeded(options));
    let plan = planCastleCluster(options, ports, options.clusterId ?? newId());
    let faults: FaultNetwork | undefined;
    if (options.faults) {
      const faultOptions = options.faults === true ? {} : options.faults;
      faults = await FaultNetwork.start({
        listeners: faultListeners(plan),
        clients: [FAULT_CLIENT_ENDPOINT],
        listenHost: CLUSTER_HOST,
        ...faultOptions,
      });
      plan = applyRoutes(plan, routeCastleCluster(plan, faults));
    }
    const cluster = new CastleCluster(plan, new TempDir("castle-cluster-"), options, faults);
    try {
      // A node with controller.quorum.voters set refuses an unformatted data dir (KIP-631).
      for (const node of cluster.nodes) formatStorage(node.dataDir, { clusterId: plan.clusterId, nodeId: node.id });
      const results = await Promise.allSettled(cluster.nodes.map((node) => cluster.start(node.id)));
      const failures = results.flatMap((r) => (r.status === "rejected" ? [(r.reason as Error).message] : []));
      if (failures.length > 0) throw new Error(`cluster did not start: ${failures.join("\n\n")}`);
    } catch (error) {
      await cluster.close();
      throw error;
    }
    return cluster;
  }

  /** Client addresses of the running broker nodes, comma-separated ("" if none runs). */
  get bootstrap(): string {
    return this.nodes
      .filter((n) => n.running && n.bootstrap !== "")
      .map((n) => n.bootstrap)
      .join(",");
  }

  node(id: number): CastleClusterNode {
    const node = this.nodes.find((n) => n.id === id);
    if (node === undefined) throw new Error(`node ${id} is not in this cluster (ids 1..${this.nodes.length})`);
    return node;
  }

  /** The last stderr lines of the node's current (or last) process. */
  recentLines(id: number): string[] {
    return this.processes.get(id)?.recentLines() ?? [];
  }

  /** Starts a node that is not running (same data dir, ports and config); waits for "node started". */
  async start(id: number): Promise<void> {
    const plan = this.plan(id);
    if (this.closing !== undefined) throw new Error(`node ${id}: the cluster is closed`);
    if (this.processes.get(id)?.running) return;
    const pending = this.starting.get(id);
    if (pending !== undefined) {
      await pending;
      return;
    }
    const { nodeArgs, onLog } = this.options;
    const starting = startNodeProcess({
      dataDir: this.node(id).dataDir,
      overrides: plan.overrides,
      nodeArgs: [...(typeof nodeArgs === "function" ? nodeArgs(id) : (nodeArgs ?? []))],
      startTimeoutMs: this.options.startTimeoutMs ?? DEFAULT_CLUSTER_START_TIMEOUT_MS,
      onSpawn: (child) => {
        this.children.add(child);
        child.once("exit", () => this.children.delete(child));
      },
      ...(onLog ? { onLog: (line: string) => onLog(id, line) } : {}),
    });
    this.starting.set(id, starting);
    try {
      this.processes.set(id, await starting);
    } catch (error) {
      throw new Error(`node ${id} (${plan.roles.join(",")}, data dir ${this.node(id).dataDir}): ${(error as Error).message}`);
    } finally {
      this.starting.delete(id);
    }
  }

  /** SIGKILL the node's process and wait for it to exit; nothing if it is not running. */
  async kill(id: number): Promise<void> {
    this.plan(id);
    await this.processes.get(id)?.kill();
  }

  /** SIGTERM (clean shutdown) and wait; SIGKILL after stopTimeoutMs. The exit code, or null. */
  async stop(id: number): Promise<number | null> {
    this.plan(id);
    const current = this.processes.get(id);
    if (!current?.running) return current?.child.exitCode ?? null;
    return current.stop(this.options.stopTimeoutMs ?? DEFAULT_CLUSTER_STOP_TIMEOUT_MS);
  }

  /** Stops the node if it runs (SIGTERM), then starts it again on the same data dir, ports and config. */
  async restart(id: number): Promise<void> {
    await this.stop(id);
    await this.start(id);
  }

  /** The node's resident set size now (VmRSS), in bytes; throws if it is not running. */
  rssBytes(id: number): number {
    const pid = this.node(id).pid;
    if (pid === undefined) throw new Error(`node ${id} is not running, so it has no RSS`);
    return processRssBytes(pid);
  }

  /**
   * Polls each node's http://127.0.0.1:<http>/readyz until it answers 200: a broker once it
   * is registered and unfenced, a controller once it has joined the quorum. "all" = every node
   * running when called. Throws at the deadline, or as soon as a node waited for exits, with
   * its last answer and log lines.
   */
  async waitReady(which: number | "all" = "all", timeoutMs = DEFAULT_READY_TIMEOUT_MS): Promise<void> {
    const ids = which === "all" ? this.nodes.filter((n) => n.running).map((n) => n.id) : [this.node(which).id];
    if (ids.length === 0) throw new Error("waitReady: no node of the cluster is running");
    await Promise.all(ids.map((id) => this.waitNodeReady(id, timeoutMs)));
  }

  /**
   * Kills every process this cluster spawned, started or still starting (SIGKILL, by pid),
   * waits for them to exit, closes the fault proxies, and removes the data dirs. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const exits = [...this.children].map((child) => new Promise((resolve) => child.once("exit", resolve)));
      for (const child of this.children) child.kill("SIGKILL");
      await Promise.all(exits);
      await Promise.allSettled([...this.starting.values()]);
      await this.faults?.close();
      process.off("exit", this.killOnExit);
      this.dir.cleanup();
    })();
    return this.closing;
  }

  private plan(id: number): CastleNodePlan {
    const plan = this.plans.get(id);
    if (plan === undefined) throw new Error(`node ${id} is not in this cluster (ids 1..${this.nodes.length})`);
    return plan;
  }

  private async waitNodeReady(id: number, timeoutMs: number): Promise<void> {
    const url = `http://${CLUSTER_HOST}:${this.plan(id).ports.http}/readyz`;
    const started = this.processes.get(id);
    const failure = (why: string): Error =>
      new Error(`node ${id}: ${why} waiting for ${url} to answer 200; last log lines:\n${this.recentLines(id).join("\n")}`);
    if (!started?.running) throw failure("not running, so not");
    let last = "no answer yet";
    let exited: Error | undefined;
    try {
      await waitUntil(
        async () => {
          if (!started.running) {
            exited = failure(`exited (code ${started.child.exitCode}, signal ${started.child.signalCode}) while`);
            throw exited;
          }
          const answer = await probeHttp(url, READY_PROBE_TIMEOUT_MS);
          last = "error" in answer ? answer.error : `${answer.status} ${JSON.stringify(answer.body)}`;
          return "status" in answer && answer.status === 200;
        },
        `${url} to answer 200`,
        timeoutMs,
        READY_POLL_INTERVAL_MS,
      );
    } catch (error) {
      if (error === exited) throw error;
      throw failure(`timed out after ${timeoutMs} ms (last answer: ${last})`);
    }
  }
}

/** `CastleCluster.start`, by the name the tests use. */
export function startCastleCluster(options: CastleClusterOptions): Promise<CastleCluster> {
  return CastleCluster.start(options);
}

// The process-level cluster harness (src/cluster/castle-cluster.ts): its plan as pure
// functions (ids, roles, ports, the voters list, override precedence); the process mechanics
// on a one-voter cluster (start, kill -9, SIGTERM, restart on the same ports and data dir,
// RSS, /readyz, close, a failed start); then a quorum of controller-only voters with a broker.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import {
  allocatePorts,
  applyRoutes,
  type CastleCluster,
  type CastleClusterOptions,
  clusterPortsNeeded,
  FAULT_CLIENT_ENDPOINT,
  type FaultAddressBooks,
  faultListeners,
  PORTS_PER_NODE,
  type ProxyTarget,
  planCastleCluster,
  routeCastleCluster,
  startCastleCluster,
} from "@castle/testkit";
import { expect } from "chai";

const CLUSTER_ID = "testClusterId0000000001";
/** Distinct fake ports 20000, 20001, ... for a plan of these options. */
const fakePorts = (options: CastleClusterOptions): number[] => Array.from({ length: clusterPortsNeeded(options) }, (_, i) => 20000 + i);

/** A stand-in for a FaultNetwork's address books: `from` reaches node `to`'s `service` at port 1000*from + 100*to + (client 1, controller 2). */
const fakeBooks = (listeners: Record<string, Record<string, ProxyTarget>>): FaultAddressBooks => ({
  addressBook(from: string, service: string): ReadonlyMap<string, ProxyTarget> {
    const book = new Map<string, ProxyTarget>();
    const fromIndex = from === FAULT_CLIENT_ENDPOINT ? 9 : Number(from);
    for (const [to, services] of Object.entries(listeners)) {
      const own = services[service];
      if (own === undefined) continue;
      book.set(to, from === to ? own : { host: "127.0.0.1", port: 1000 * fromIndex + 100 * Number(to) + (service === "client" ? 1 : 2) });
    }
    return book;
  },
});

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** True while a process with this pid exists (signal 0 checks without signalling). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Pids of live processes whose command line contains `text`. */
function processesMentioning(text: string): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(text);
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe("castle cluster harness: plan", () => {
  const layouts: Array<{
    name: string;
    options: CastleClusterOptions;
    roles: string[];
    voters: string;
  }> = [
    {
      name: "one combined voter",
      options: { controllers: 1 },
      roles: ["broker,controller"],
      voters: "1@127.0.0.1:20001",
    },
    {
      name: "three combined voters",
      options: { controllers: 3 },
      roles: ["broker,controller", "broker,controller", "broker,controller"],
      voters: "1@127.0.0.1:20001,2@127.0.0.1:20004,3@127.0.0.1:20007",
    },
    {
      name: "three controller-only voters and two brokers",
      options: { controllers: 3, brokers: 2, combined: false },
      roles: ["controller", "controller", "controller", "broker", "broker"],
      voters: "1@127.0.0.1:20001,2@127.0.0.1:20004,3@127.0.0.1:20007",
    },
    {
      name: "one combined voter and one broker",
      options: { controllers: 1, brokers: 1 },
      roles: ["broker,controller", "broker"],
      voters: "1@127.0.0.1:20001",
    },
  ];

  for (const layout of layouts) {
    it(`lays out ${layout.name}: ids from 1, voters first, three ports each`, () => {
      const plan = planCastleCluster(layout.options, fakePorts(layout.options), CLUSTER_ID);
      expect(plan.voters, layout.name).to.equal(layout.voters);
      expect(
        plan.nodes.map((n) => n.roles.join(",")),
        layout.name,
      ).to.deep.equal(layout.roles);
      for (const [i, node] of plan.nodes.entries()) {
        const base = 20000 + i * PORTS_PER_NODE;
        const isBroker = node.roles.includes("broker");
        expect(node.id, `${layout.name}: id of node ${i}`).to.equal(i + 1);
        expect(node.ports, `${layout.name}: ports of node ${node.id}`).to.deep.equal({
          client: isBroker ? base : -1,
          controller: base + 1,
          http: base + 2,
        });
        expect(node.overrides, `${layout.name}: overrides of node ${node.id}`).to.deep.equal({
          "node.id": String(node.id),
          "cluster.id": CLUSTER_ID,
          "process.roles": node.roles.join(","),
          "controller.quorum.voters": layout.voters,
          "client.port": String(base),
          "controller.port": String(base + 1),
          "http.port": String(base + 2),
          "listener.host": "127.0.0.1",
          "advertised.host": "127.0.0.1",
        });
      }
    });
  }

  it("applies overrides to every node and nodeOverrides to one, the latter winning", () => {
    const options: CastleClusterOptions = {
      controllers: 3,
      overrides: { "broker.session.timeout.ms": "3000", "log.level": "debug" },
      nodeOverrides: { 2: { "broker.session.timeout.ms": "4000", "broker.rack": "b" } },
    };
    const plan = planCastleCluster(options, fakePorts(options), CLUSTER_ID);
    const picked = plan.nodes.map((n) => [n.overrides["broker.session.timeout.ms"], n.overrides["broker.rack"], n.overrides["log.level"]]);
    expect(picked).to.deep.equal([
      ["3000", undefined, "debug"],
      ["4000", "b", "debug"],
      ["3000", undefined, "debug"],
    ]);
  });

  const refusals: Array<{ name: string; options: CastleClusterOptions; ports?: number[]; error: RegExp }> = [
    { name: "no voter", options: { controllers: 0 }, error: /controllers must be an integer >= 1, got 0/ },
    { name: "a fractional voter count", options: { controllers: 1.5 }, error: /controllers must be an integer >= 1, got 1.5/ },
    { name: "negative brokers", options: { controllers: 1, brokers: -1 }, error: /brokers must be an integer >= 0, got -1/ },
    { name: "too many nodes", options: { controllers: 3, brokers: 30 }, error: /33 nodes is over CLUSTER_NODES_MAX \(32\)/ },
    {
      name: "too few ports",
      options: { controllers: 2 },
      ports: [1, 2, 3, 4, 5],
      error: /2 nodes needs 6 distinct ports, got 5 \(5 distinct\)/,
    },
    {
      name: "a repeated port",
      options: { controllers: 2 },
      ports: [1, 2, 3, 4, 5, 5],
      error: /needs 6 distinct ports, got 6 \(5 distinct\)/,
    },
    {
      name: "a harness key in overrides",
      options: { controllers: 1, overrides: { "client.port": "9092" } },
      error: /overrides sets client.port, which the cluster harness sets itself/,
    },
    {
      name: "a harness key in nodeOverrides",
      options: { controllers: 1, nodeOverrides: { 1: { "process.roles": "broker" } } },
      error: /nodeOverrides\[1\] sets process.roles/,
    },
    {
      name: "a routed key in overrides when faults route the cluster",
      options: { controllers: 3, faults: true, overrides: { "advertised.port": "9000" } },
      error: /overrides sets advertised.port, which the cluster harness sets itself/,
    },
    {
      name: "a routed key in nodeOverrides when faults route the cluster",
      options: { controllers: 3, faults: true, nodeOverrides: { 2: { "replica.fetch.addresses": "1@127.0.0.1:1" } } },
      error: /nodeOverrides\[2\] sets replica.fetch.addresses/,
    },
    {
      name: "faults with broker-only nodes",
      options: { controllers: 1, brokers: 1, faults: true },
      error: /faults routes voters only \(brokers: 0\)/,
    },
    {
      name: "nodeOverrides for a node that does not exist",
      options: { controllers: 3, nodeOverrides: { 4: { "broker.rack": "a" } } },
      error: /nodeOverrides names node 4, but the cluster's node ids are 1..3/,
    },
  ];
  for (const refusal of refusals) {
    it(`refuses ${refusal.name}`, () => {
      expect(() => planCastleCluster(refusal.options, refusal.ports ?? fakePorts(refusal.options), CLUSTER_ID)).to.throw(refusal.error);
    });
  }

  it("routes each node through its own proxies: its voters list, its advertised port, its replica fetch addresses", () => {
    const options: CastleClusterOptions = { controllers: 3, faults: true, overrides: { "log.level": "debug" } };
    const plan = planCastleCluster(options, fakePorts(options), CLUSTER_ID);
    const listeners = faultListeners(plan);
    expect(listeners["2"]).to.deep.equal({ client: { host: "127.0.0.1", port: 20003 }, controller: { host: "127.0.0.1", port: 20004 } });
    const routed = applyRoutes(plan, routeCastleCluster(plan, fakeBooks(listeners)));
    const keys = ["controller.quorum.voters", "advertised.port", "replica.fetch.addresses", "client.port", "log.level"];
    expect(routed.nodes.map((n) => keys.map((key) => n.overrides[key]))).to.deep.equal([
      ["1@127.0.0.1:20001,2@127.0.0.1:1202,3@127.0.0.1:1302", "9101", "2@127.0.0.1:1201,3@127.0.0.1:1301", "20000", "debug"],
      ["1@127.0.0.1:2102,2@127.0.0.1:20004,3@127.0.0.1:2302", "9201", "1@127.0.0.1:2101,3@127.0.0.1:2301", "20003", "debug"],
      ["1@127.0.0.1:3102,2@127.0.0.1:3202,3@127.0.0.1:20007", "9301", "1@127.0.0.1:3101,2@127.0.0.1:3201", "20006", "debug"],
    ]);
    expect(routed.voters, "the plan's voters list stays the real one").to.equal(plan.voters);
  });

  it("routes controller-only voters without a client listener or an advertised port", () => {
    const options: CastleClusterOptions = { controllers: 1, combined: false, faults: true };
    const plan = planCastleCluster(options, fakePorts(options), CLUSTER_ID);
    const listeners = faultListeners(plan);
    expect(listeners).to.deep.equal({ "1": { controller: { host: "127.0.0.1", port: 20001 } } });
    const routes = routeCastleCluster(plan, fakeBooks(listeners));
    expect(routes.get(1)).to.deep.equal({ voters: "1@127.0.0.1:20001", advertisedPort: undefined, replicaFetchAddresses: "" });
    expect(applyRoutes(plan, routes).nodes[0]?.overrides).to.not.have.any.keys("advertised.port", "replica.fetch.addresses");
  });

  it("allocates distinct ports, dropping a port handed out twice", async () => {
    const handedOut = [30001, 30002, 30001, 30003, 30002, 30004];
    const ports = await allocatePorts(4, async () => handedOut.shift() ?? 0);
    expect(ports).to.deep.equal([30001, 30002, 30003, 30004]);
  });

  it("gives up allocating when the same port keeps coming back", async () => {
    let picks = 0;
    const allocation = allocatePorts(2, async () => {
      picks++;
      return 30001;
    });
    const error = await allocation.catch((e: Error) => e);
    expect((error as Error).message).to.equal("found only 1 distinct free ports of 2 in 8 tries");
    expect(picks).to.equal(8);
  });

  it("allocates real free ports on 127.0.0.1", async () => {
    const ports = await allocatePorts(6);
    expect(new Set(ports).size).to.equal(6);
    for (const port of ports) expect(port, `port ${port}`).to.be.within(1, 65535);
  });
});

/**
 * After kill -9 the old incarnation's broker session lives on until broker.session.timeout.ms,
 * and the restarted broker is registered (and ready) only after it expires: keep it short.
 */
const FAST_SESSION = { "broker.session.timeout.ms": "2000", "broker.heartbeat.interval.ms": "500" };
const READY_AFTER_RESTART_TIMEOUT_MS = 20_000;

describe("castle cluster harness: processes (one voter)", function () {
  this.timeout(60_000);
  let cluster: CastleCluster | undefined;
  const logs: Array<{ id: number; line: string }> = [];

  after(async () => {
    await cluster?.close();
  });

  it("starts a one-voter cluster whose node is running, formatted and ready", async () => {
    cluster = await startCastleCluster({ controllers: 1, overrides: FAST_SESSION, onLog: (id, line) => logs.push({ id, line }) });
    const [node] = cluster.nodes;
    expect(cluster.nodes).to.have.length(1);
    expect(node?.running).to.equal(true);
    expect(node?.pid !== undefined && alive(node.pid), "the node's process is alive").to.equal(true);
    expect(node?.roles).to.deep.equal(["broker", "controller"]);
    expect(cluster.bootstrap).to.equal(`127.0.0.1:${node?.ports.client}`);
    expect(cluster.voters).to.equal(`1@127.0.0.1:${node?.ports.controller}`);
    expect(readFileSync(join(node?.dataDir ?? "", "meta.properties"), "utf8")).to.contain(`cluster.id=${cluster.clusterId}\nnode.id=1\n`);
    const started = logs.find((l) => l.line.includes('"node started"'));
    expect(started?.id).to.equal(1);
    expect(JSON.parse(started?.line ?? "{}")).to.include({
      clientPort: node?.ports.client,
      httpPort: node?.ports.http,
      clusterId: cluster.clusterId,
    });
    await cluster.waitReady("all", 10_000);
  });

  it("reports the node's RSS from /proc", () => {
    const rss = cluster?.rssBytes(1) ?? 0;
    expect(rss).to.be.within(10 * 1024 * 1024, 1024 * 1024 * 1024);
  });

  it("kill -9 ends the process; waiting on it then fails at once, naming the node", async () => {
    const c = cluster as CastleCluster;
    const pid = c.node(1).pid as number;
    await c.kill(1);
    expect(alive(pid), "the killed pid is gone").to.equal(false);
    expect(c.node(1).running).to.equal(false);
    expect(c.node(1).pid).to.equal(undefined);
    expect(c.bootstrap).to.equal("");
    expect(() => c.rssBytes(1)).to.throw("node 1 is not running");
    const error = await c.waitReady(1, 5_000).catch((e: Error) => e);
    expect((error as Error).message).to.match(/^node 1: not running, so not waiting for http:\/\/127\.0\.0\.1:\d+\/readyz to answer 200/);
    await c.kill(1); // killing a stopped node does nothing
  });

  it("restart brings the node back on the same ports, data dir and cluster id", async () => {
    const c = cluster as CastleCluster;
    const before = { ports: c.node(1).ports, dataDir: c.node(1).dataDir };
    logs.length = 0;
    await c.restart(1);
    const node = c.node(1);
    expect(node.running).to.equal(true);
    expect({ ports: node.ports, dataDir: node.dataDir }).to.deep.equal(before);
    const started = logs.find((l) => l.line.includes('"node started"'));
    expect(JSON.parse(started?.line ?? "{}")).to.include({ clientPort: before.ports.client, clusterId: c.clusterId });
    await c.waitReady(1, READY_AFTER_RESTART_TIMEOUT_MS);
  });

  it("stop sends SIGTERM and the node shuts down cleanly (exit code 0)", async () => {
    const c = cluster as CastleCluster;
    const pid = c.node(1).pid as number;
    expect(await c.stop(1)).to.equal(0);
    expect(alive(pid)).to.equal(false);
    expect(logs.some((l) => l.line.includes('"node stopped"'))).to.equal(true);
    await c.start(1);
    expect(c.node(1).running).to.equal(true);
    await c.waitReady(1, READY_AFTER_RESTART_TIMEOUT_MS);
  });

  it("close kills every process and removes the data dirs, and may be called again", async () => {
    const c = cluster as CastleCluster;
    const pid = c.node(1).pid as number;
    const dataDir = c.node(1).dataDir;
    await c.close();
    expect(alive(pid)).to.equal(false);
    expect(existsSync(dataDir)).to.equal(false);
    await c.close();
    await c.start(1).then(
      () => expect.fail("a closed cluster started a node"),
      (e: Error) => expect(e.message).to.equal("node 1: the cluster is closed"),
    );
  });

  it("a node that fails to start fails the cluster with its id and output, and leaves nothing running", async () => {
    const error = await startCastleCluster({
      controllers: 1,
      brokers: 1,
      nodeOverrides: { 2: { "broker.session.timeout.ms": "soon" } },
    }).catch((e: Error) => e);
    expect(error).to.be.instanceOf(Error);
    const message = (error as Error).message;
    const match = /^cluster did not start: node 2 \(broker, data dir (\S+)\/node-2\): node exited with code 1 before starting: /.exec(
      message,
    );
    expect(match, message).to.not.equal(null);
    expect(message).to.contain("broker.session.timeout.ms=soon is not an integer");
    // Node 1 started; the failed start closed it: no process runs on the cluster's dirs, which are gone.
    const baseDir = match?.[1] as string;
    expect(existsSync(baseDir), baseDir).to.equal(false);
    expect(processesMentioning(baseDir), `processes with ${baseDir} in their command line`).to.deep.equal([]);
  });
});

describe("castle cluster harness: controller-only voters and a broker", function () {
  this.timeout(90_000);
  let cluster: CastleCluster | undefined;

  after(async () => {
    await cluster?.close();
  });

  it("starts them together; controllers have no client port and stay out of bootstrap; all get ready", async () => {
    cluster = await startCastleCluster({ controllers: 3, brokers: 1, combined: false, overrides: FAST_SESSION });
    const c = cluster;
    expect(c.nodes.map((n) => [n.id, n.roles.join(","), n.ports.client === -1, n.bootstrap === ""])).to.deep.equal([
      [1, "controller", true, true],
      [2, "controller", true, true],
      [3, "controller", true, true],
      [4, "broker", false, false],
    ]);
    expect(c.bootstrap).to.equal(`127.0.0.1:${c.node(4).ports.client}`);
    await c.waitReady("all", READY_AFTER_RESTART_TIMEOUT_MS);
  });

  it("a broker killed with -9 comes back and gets ready again", async () => {
    const c = cluster as CastleCluster;
    await c.kill(4);
    expect(c.bootstrap).to.equal("");
    await c.restart(4);
    await c.waitReady(4, READY_AFTER_RESTART_TIMEOUT_MS);
    expect(c.bootstrap).to.equal(`127.0.0.1:${c.node(4).ports.client}`);
  });
});

describe("castle cluster harness: three voters behind a fault network", function () {
  this.timeout(60_000);
  let cluster: CastleCluster | undefined;

  after(async () => {
    await cluster?.close();
  });

  it("routes Raft and clients through the proxies, and close() closes them", async () => {
    cluster = await startCastleCluster({ controllers: 3, faults: { seed: 7 }, overrides: FAST_SESSION });
    const c = cluster;
    const network = c.faults;
    if (network === undefined) throw new Error("a cluster started with faults has a fault network");
    await c.waitReady("all", READY_AFTER_RESTART_TIMEOUT_MS);
    for (const node of c.nodes) {
      const proxy = network.link(FAULT_CLIENT_ENDPOINT, String(node.id), "client");
      expect(node.bootstrap, `node ${node.id}: clients reach it through their proxy`).to.equal(`127.0.0.1:${proxy.port}`);
      expect(node.overrides["advertised.port"], `node ${node.id} advertises that proxy`).to.equal(String(proxy.port));
    }
    const raftConnections = network.links.filter((l) => l.service === "controller").reduce((sum, l) => sum + l.proxy.stats.accepted, 0);
    expect(raftConnections, "the quorum formed over the proxies").to.be.greaterThan(0);
    const proxyPorts = network.links.map((l) => l.proxy.port);
    await c.close();
    const open = await Promise.all(proxyPorts.map(listening));
    expect(open.filter(Boolean), "no proxy listens after close").to.deep.equal([]);
  });
});

// The chart's runtime contract, for real: three "pods" started exactly as the rendered
// StatefulSet starts them (its init container's and container's command, its env resolved the
// way the kubelet resolves it, its ConfigMap mounted at /etc/castle and a data volume at
// /var/lib/castle), each in its own network namespace whose hostname and /etc/hosts match the
// pod DNS names the headless Service gives. They must form one cluster, take a topic with
// RF 3, survive one pod being killed and come back when it is restarted. Needs root (network
// and mount namespaces); skips, saying why, where they cannot be made.

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { castleNodeFlags, TempDir } from "@castle/testkit";
import { expect } from "chai";
import { type RenderedChart, renderChartOrThrow, rendererUnavailable } from "./helm/chart-renderer.js";

type Json = { [key: string]: unknown };

const RELEASE = "demo";
const NAMESPACE = "data";
const POD_COUNT = 3;
/** The pods' own test network, inside namespaces this test creates (never routed anywhere). */
const SUBNET = "10.213.7";
const CLIENT_ADDRESS = `${SUBNET}.100`;
const READY_TIMEOUT_MS = 60_000;
const CLI = resolve("packages/cli/dist/main.js");
/** The mount points the chart's pods use; created empty on this machine if missing, removed after. */
const MOUNT_POINTS = ["/etc/castle", "/var/lib/castle"];

function sh(command: string, args: string[]): { ok: boolean; out: string } {
  const result = spawnSync(command, args, { encoding: "utf8", timeout: 30_000 });
  return { ok: result.status === 0, out: `${result.stdout ?? ""}${result.stderr ?? ""}`.trim() };
}

function must(command: string, ...args: string[]): string {
  const result = sh(command, args);
  if (!result.ok) throw new Error(`${command} ${args.join(" ")} failed: ${result.out}`);
  return result.out;
}

function namespacesUnavailable(suffix: string): string | undefined {
  if (process.getuid?.() !== 0) return "not root, so no network or mount namespaces";
  const probe = `castle-probe-${suffix}`;
  const added = sh("ip", ["netns", "add", probe]);
  if (!added.ok) return `ip netns add failed: ${added.out}`;
  const unshared = sh("ip", ["netns", "exec", probe, "unshare", "--mount", "--uts", "true"]);
  sh("ip", ["netns", "del", probe]);
  return unshared.ok ? undefined : `unshare --mount --uts failed: ${unshared.out}`;
}

function find(chart: RenderedChart, kind: string, name: string): Json {
  const found = chart.manifests.find((m) => m.kind === kind && m.name === name);
  if (found === undefined) throw new Error(`the chart rendered no ${kind}/${name}`);
  return found.object;
}

interface PodPlan {
  readonly name: string;
  readonly netns: string;
  readonly address: string;
  readonly dir: string;
}

describe("the Helm chart's runtime contract: pods in network namespaces", function () {
  this.timeout(300_000);
  const suffix = String(process.pid);
  const netnsSwitch = `castle-sw-${suffix}`;
  const netnsClient = `castle-client-${suffix}`;
  let dir: TempDir;
  let chart: RenderedChart;
  let pods: PodPlan[] = [];
  const running = new Map<string, ChildProcess>();
  const createdMountPoints: string[] = [];
  const netnsCreated: string[] = [];
  let bootstrap = "";

  const podEnv = (pod: PodPlan, container: Json): Record<string, string> => {
    const secret = find(chart, "Secret", `${RELEASE}-castle-cluster-id`);
    const env: Record<string, string> = {};
    for (const entry of container["env"] as Json[]) {
      const name = entry["name"] as string;
      const from = entry["valueFrom"] as Json | undefined;
      const field = (from?.["fieldRef"] as Json | undefined)?.["fieldPath"];
      const secretRef = from?.["secretKeyRef"] as Json | undefined;
      if (typeof entry["value"] === "string") env[name] = entry["value"];
      else if (field === "metadata.name") env[name] = pod.name;
      else if (field === "metadata.namespace") env[name] = NAMESPACE;
      else if (secretRef !== undefined && secretRef["name"] === (secret["metadata"] as Json)["name"]) {
        env[name] = Buffer.from((secret["data"] as Json)[secretRef["key"] as string] as string, "base64").toString();
      } else throw new Error(`env ${name}: a source this test cannot resolve: ${JSON.stringify(entry)}`);
    }
    return env;
  };

  /** Runs one of the pod's containers as the kubelet would: same command and env, the volumes mounted. */
  const runContainer = (pod: PodPlan, container: Json): ChildProcess => {
    const env = { PATH: `${dir.join("bin")}:${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`, ...podEnv(pod, container) };
    const command = container["command"] as string[];
    const inner = [
      `mount --bind ${pod.dir}/etc-castle /etc/castle`,
      `mount --bind ${pod.dir}/volume /var/lib/castle`,
      `hostname ${pod.name}`,
      `exec env -i ${Object.entries(env)
        .map(([k, v]) => `${k}='${v}'`)
        .join(" ")} ${command.map((c) => `'${c}'`).join(" ")}`,
    ].join(" && ");
    const child = spawn("ip", ["netns", "exec", pod.netns, "unshare", "--mount", "--uts", "--propagation", "private", "sh", "-c", inner], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const log = join(pod.dir, "log");
    child.stdout?.on("data", (chunk: Buffer) => writeFileSync(log, chunk, { flag: "a" }));
    child.stderr?.on("data", (chunk: Buffer) => writeFileSync(log, chunk, { flag: "a" }));
    return child;
  };

  const startPod = async (pod: PodPlan): Promise<void> => {
    const template = ((find(chart, "StatefulSet", `${RELEASE}-castle`)["spec"] as Json)["template"] as Json)["spec"] as Json;
    for (const init of template["initContainers"] as Json[]) {
      const child = runContainer(pod, init);
      const code = await new Promise<number | null>((done) => child.once("exit", done));
      if (code !== 0) throw new Error(`${pod.name}: init container ${init["name"]} exited with ${code}; see ${pod.dir}/log`);
    }
    running.set(pod.name, runContainer(pod, (template["containers"] as Json[])[0] as Json));
  };

  const killPod = async (pod: PodPlan): Promise<void> => {
    const child = running.get(pod.name);
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((done) => child.once("exit", done));
    child.kill("SIGKILL");
    await exited;
    running.delete(pod.name);
  };

  /** The castle CLI as a client pod inside the cluster network runs it. */
  const client = (args: string[], input?: string): string => {
    const result = spawnSync("ip", ["netns", "exec", netnsClient, process.execPath, CLI, "--bootstrap", bootstrap, ...args], {
      input,
      encoding: "utf8",
      timeout: 30_000,
    });
    if (result.status !== 0) throw new Error(`castle ${args.join(" ")} failed (${result.status}): ${result.stderr}`);
    return result.stdout;
  };

  const probe = (pod: PodPlan, path: string): boolean => {
    const script = `fetch(process.argv[1], { signal: AbortSignal.timeout(1000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`;
    const url = `http://${pod.name}.${RELEASE}-castle-headless.${NAMESPACE}.svc.cluster.local:9644${path}`;
    return spawnSync("ip", ["netns", "exec", netnsClient, process.execPath, "-e", script, url], { timeout: 5_000 }).status === 0;
  };

  const waitReady = async (targets: PodPlan[]): Promise<void> => {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (const pod of targets) {
      while (!probe(pod, "/readyz")) {
        const child = running.get(pod.name);
        if (child === undefined || child.exitCode !== null) throw new Error(`${pod.name} exited; see ${pod.dir}/log`);
        if (Date.now() > deadline) throw new Error(`${pod.name} not ready after ${READY_TIMEOUT_MS} ms; see ${pod.dir}/log`);
        await new Promise((done) => setTimeout(done, 250));
      }
    }
  };

  before(function () {
    const missing = rendererUnavailable() ?? namespacesUnavailable(suffix);
    if (missing !== undefined) {
      console.warn(`skipping the chart's runtime contract test: ${missing}`);
      this.skip();
    }
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing; run npm run build first`);
    dir = new TempDir("castle-pods-");
    chart = renderChartOrThrow({}, { release: RELEASE, namespace: NAMESPACE });
    const configMap = find(chart, "ConfigMap", `${RELEASE}-castle`)["data"] as Record<string, string>;

    // `castle` on PATH, as the image links it.
    mkdirSync(dir.join("bin"));
    // As the image's `castle` runs: with the executable's node flags.
    writeFileSync(dir.join("bin/castle"), `#!/bin/sh\nexec '${process.execPath}' ${castleNodeFlags().join(" ")} '${CLI}' "$@"\n`);
    chmodSync(dir.join("bin/castle"), 0o755);
    for (const point of MOUNT_POINTS) {
      if (!existsSync(point)) {
        mkdirSync(point, { recursive: true });
        createdMountPoints.push(point);
      }
    }

    // A switch namespace with a bridge, one namespace per pod and one for clients.
    must("ip", "netns", "add", netnsSwitch);
    netnsCreated.push(netnsSwitch);
    must("ip", "netns", "exec", netnsSwitch, "ip", "link", "add", "br0", "type", "bridge");
    must("ip", "netns", "exec", netnsSwitch, "ip", "link", "set", "br0", "up");
    pods = Array.from({ length: POD_COUNT }, (_, i) => ({
      name: `${RELEASE}-castle-${i}`,
      netns: `castle-pod${i}-${suffix}`,
      address: `${SUBNET}.${10 + i}`,
      dir: dir.join(`pod-${i}`),
    }));
    const hosts = [
      "127.0.0.1 localhost",
      ...pods.map((p) => `${p.address} ${p.name}.${RELEASE}-castle-headless.${NAMESPACE}.svc.cluster.local ${p.name}`),
    ];
    const attach = (netns: string, address: string, hostname: string, index: number) => {
      must("ip", "netns", "add", netns);
      netnsCreated.push(netns);
      const host = `cv${index}-${suffix}`.slice(0, 15);
      must("ip", "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", netns);
      must("ip", "link", "set", host, "netns", netnsSwitch);
      must("ip", "netns", "exec", netnsSwitch, "ip", "link", "set", host, "master", "br0", "up");
      must("ip", "netns", "exec", netns, "ip", "addr", "add", `${address}/24`, "dev", "eth0");
      must("ip", "netns", "exec", netns, "ip", "link", "set", "eth0", "up");
      must("ip", "netns", "exec", netns, "ip", "link", "set", "lo", "up");
      mkdirSync(`/etc/netns/${netns}`, { recursive: true });
      writeFileSync(`/etc/netns/${netns}/hosts`, `${hosts.join("\n")}\n${address} ${hostname}\n`);
    };
    pods.forEach((pod, i) => {
      attach(pod.netns, pod.address, pod.name, i);
      mkdirSync(join(pod.dir, "etc-castle"), { recursive: true });
      mkdirSync(join(pod.dir, "volume"), { recursive: true });
      for (const [file, text] of Object.entries(configMap)) writeFileSync(join(pod.dir, "etc-castle", file), text);
    });
    attach(netnsClient, CLIENT_ADDRESS, "castle-client", POD_COUNT);
    bootstrap = `${RELEASE}-castle.${NAMESPACE}.svc.cluster.local:9092`;
    // The client Service has no cluster IP here; its DNS name resolves to a broker pod instead.
    writeFileSync(`/etc/netns/${netnsClient}/hosts`, `${hosts.join("\n")}\n${pods[0]?.address} ${bootstrap.split(":")[0]}\n`, {
      flag: "w",
    });
  });

  after(async () => {
    for (const pod of pods) await killPod(pod).catch(() => undefined);
    for (const netns of netnsCreated.reverse()) {
      sh("ip", ["netns", "del", netns]);
      rmSync(`/etc/netns/${netns}`, { recursive: true, force: true });
    }
    for (const point of createdMountPoints) {
      if (existsSync(point) && readdirSync(point).length === 0) rmdirSync(point);
    }
    dir?.cleanup();
  });

  it("three pods form one cluster, take an RF 3 topic, and carry on through a killed pod", async () => {
    await Promise.all(pods.map((pod) => startPod(pod)));
    await waitReady(pods);

    const quorum = JSON.parse(client(["--json", "quorum", "describe", "--status"])) as { currentVoters: number[]; leaderId: number };
    expect(quorum.currentVoters, "node ids from the pod ordinals").to.deep.equal([1, 2, 3]);
    expect(quorum.leaderId, "a leader").to.be.oneOf([1, 2, 3]);
    const cluster = JSON.parse(client(["--json", "cluster", "describe"])) as { brokers: { nodeId: number; host: string }[] };
    expect(
      cluster.brokers.map((b) => `${b.nodeId}@${b.host}`),
      "brokers advertise their pod DNS names",
    ).to.deep.equal(pods.map((p, i) => `${i + 1}@${p.name}.${RELEASE}-castle-headless.${NAMESPACE}.svc.cluster.local`));

    client(["topic", "create", "orders", "--partitions", "3", "--replication-factor", "3"]);
    const [topic] = JSON.parse(client(["--json", "topic", "describe", "orders"])) as {
      partitions: { partition: number; leader: number; replicas: number[] }[];
    }[];
    expect(
      topic?.partitions.every((p) => p.replicas.length === 3),
      "three replicas per partition",
    ).to.equal(true);

    // Kill pod 2 (node 3); write to and read from a partition another node leads (until
    // issue 5 replicates data, the killed leader's partitions are not readable elsewhere).
    const victim = pods[2] as PodPlan;
    const partition = topic?.partitions.find((p) => p.leader !== 3)?.partition as number;
    const values = Array.from({ length: 10 }, (_, i) => `before-${i}`);
    client(["produce", "--topic", "orders", "--partition", String(partition), "--acks", "all"], `${values.join("\n")}\n`);
    await killPod(victim);
    const after = Array.from({ length: 10 }, (_, i) => `after-${i}`);
    client(["produce", "--topic", "orders", "--partition", String(partition), "--acks", "1"], `${after.join("\n")}\n`);
    const read = (count: number) =>
      client([
        "--json",
        "consume",
        "--topic",
        "orders",
        "--partition",
        String(partition),
        "--from-beginning",
        "--max-messages",
        String(count),
        "--timeout-ms",
        "15000",
      ])
        .trim()
        .split("\n")
        .map((line) => (JSON.parse(line) as { value: string }).value);
    expect(read(20), "written before and after the kill, read with the pod down").to.deep.equal([...values, ...after]);

    // The pod comes back as the StatefulSet would restart it: init container, then the node.
    await startPod(victim);
    await waitReady(pods);
    expect(read(20), "read again with every pod back").to.deep.equal([...values, ...after]);
  });
});

// scripts/cluster.sh as a person uses it: up, produce, kill node 1, consume, restart, down, on
// ports and a directory this test picks; afterwards no process of the cluster is left.

import { execFile, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { TempDir } from "@castle/testkit";
import { expect } from "chai";

const SCRIPT = "scripts/cluster.sh";
const CLI = "packages/cli/dist/main.js";
/** Ports the script takes from CLUSTER_PORT_BASE: three per node, three nodes. */
const PORTS_NEEDED = 9;
const PORT_BASE_TRIES_MAX = 20;
const SCRIPT_TIMEOUT_MS = 90_000;
const RECORDS = 20;

const run = promisify(execFile);

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A base port with the PORTS_NEEDED ports from it free on 127.0.0.1 now. */
async function freePortBase(): Promise<number> {
  for (let tries = 0; tries < PORT_BASE_TRIES_MAX; tries++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    const free = await Promise.all(Array.from({ length: PORTS_NEEDED }, (_, i) => portFree(base + i)));
    if (free.every(Boolean)) return base;
  }
  throw new Error(`no ${PORTS_NEEDED} consecutive free ports found in ${PORT_BASE_TRIES_MAX} tries`);
}

/** Pids of live processes whose command line mentions `text`. */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(text)) pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

describe("scripts/cluster.sh", function () {
  this.timeout(180_000);
  let dir: TempDir;
  let env: NodeJS.ProcessEnv;
  let bootstrap: string;

  const script = async (...args: string[]): Promise<string> => {
    try {
      const { stdout } = await run("bash", [SCRIPT, ...args], { env, timeout: SCRIPT_TIMEOUT_MS });
      return stdout;
    } catch (error) {
      const { stdout, stderr } = error as { stdout?: string; stderr?: string };
      throw new Error(`cluster.sh ${args.join(" ")} failed: ${(error as Error).message}\n${stdout ?? ""}\n${stderr ?? ""}`);
    }
  };
  const castle = async (args: string[], input?: string): Promise<string> => {
    const result = spawnSync(process.execPath, [CLI, "--bootstrap", bootstrap, ...args], {
      input,
      encoding: "utf8",
      timeout: 30_000,
    });
    if (result.status !== 0) throw new Error(`castle ${args.join(" ")} failed (${result.status}): ${result.stderr}`);
    return result.stdout;
  };

  before(async () => {
    dir = new TempDir("castle-cluster-sh-");
    const base = await freePortBase();
    env = { ...process.env, CLUSTER_DIR: dir.join("cluster"), CLUSTER_PORT_BASE: String(base), CLUSTER_READY_TIMEOUT: "60" };
    bootstrap = [0, 1, 2].map((i) => `127.0.0.1:${base + 3 * i}`).join(",");
  });

  after(async () => {
    // Whatever happened above, the script stops what it started.
    if (env !== undefined) await script("down").catch(() => undefined);
    for (const pid of dir ? processesMentioning(dir.join("cluster")) : []) process.kill(pid, "SIGKILL");
    dir?.cleanup();
  });

  it("starts three nodes, survives killing node 1, restarts it and leaves nothing behind", async () => {
    const up = await script("up");
    expect(up, "up prints how to reach the cluster").to.contain(`export CASTLE_BOOTSTRAP=${bootstrap}`);
    expect(processesMentioning(dir.join("cluster")).length, "three node processes").to.equal(3);

    await castle(["topic", "create", "orders", "--partitions", "3", "--replication-factor", "3"]);
    const [topic] = JSON.parse(await castle(["--json", "topic", "describe", "orders"])) as {
      partitions: { partition: number; leader: number }[];
    }[];
    // Until partition data is replicated (issue 5), only a partition led elsewhere keeps its
    // records when node 1 dies; once it is, any partition will do.
    const partition = topic?.partitions.find((p) => p.leader !== 1)?.partition;
    expect(partition, `a partition not led by node 1 in ${JSON.stringify(topic)}`).to.not.equal(undefined);
    const values = Array.from({ length: RECORDS }, (_, i) => `record-${i}`);
    await castle(["produce", "--topic", "orders", "--partition", String(partition), "--acks", "all"], `${values.join("\n")}\n`);

    expect(await script("kill", "1")).to.contain("node 1 killed");
    const status = await script("status");
    expect(status).to.match(/node 1: stopped/);
    expect(status).to.match(/node 2: (ready|running)/);

    const consumed = (
      await castle([
        "--json",
        "consume",
        "--topic",
        "orders",
        "--partition",
        String(partition),
        "--from-beginning",
        "--max-messages",
        String(RECORDS),
        "--timeout-ms",
        "15000",
      ])
    )
      .trim()
      .split("\n")
      .map((line) => (JSON.parse(line) as { value: string }).value);
    expect(consumed, "every record, read with node 1 dead").to.deep.equal(values);

    expect(await script("restart", "1")).to.contain("node 1 restarted and ready");
    expect(await script("status")).to.match(/node 1: ready/);

    await script("down");
    expect(processesMentioning(dir.join("cluster")), "no node process left").to.deep.equal([]);
    const pidFiles = readdirSync(join(dir.join("cluster"))).filter((f) => f.endsWith(".pid"));
    expect(pidFiles, "no pid file left").to.deep.equal([]);
  });
});

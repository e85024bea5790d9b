// The V8 flags a node runs with (SERVER_NODE_FLAGS) are written in three places that cannot
// import them: the executable's shebang, `npm start`, and what @castle/testkit reads from the
// shebang. These tests keep them equal, and check that a node started without them says so.

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { missingServerNodeFlags, SERVER_NODE_FLAGS } from "@castle/cli";
import { castleCliPath, castleNodeFlags, loopbackNodeFlags, startNodeProcess, TempDir } from "@castle/testkit";
import { expect } from "chai";

describe("the node's V8 flags", function () {
  this.timeout(30_000);
  let dir: TempDir;
  beforeEach(() => {
    dir = new TempDir();
  });
  afterEach(() => dir.cleanup());

  it("are the same in the executable's shebang, in npm start and in the code", () => {
    expect(SERVER_NODE_FLAGS).to.not.be.empty;
    expect(castleNodeFlags()).to.deep.equal([...SERVER_NODE_FLAGS]);
    const pkg = JSON.parse(readFileSync(fileURLToPath(new URL("../../../package.json", import.meta.url)), "utf8")) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.start).to.contain(`node ${SERVER_NODE_FLAGS.join(" ")} packages/cli/dist/main.js server start`);
  });

  it("names exactly the flags a process lacks", () => {
    expect(missingServerNodeFlags([])).to.deep.equal([...SERVER_NODE_FLAGS]);
    expect(missingServerNodeFlags(["--inspect", ...SERVER_NODE_FLAGS])).to.deep.equal([]);
    // A different value is not the flag.
    expect(missingServerNodeFlags(["--initial-heap-size=8"])).to.deep.equal([...SERVER_NODE_FLAGS]);
  });

  it("a testkit node runs with them and does not warn", async () => {
    const node = await startNodeProcess({ dataDir: dir.join("a") });
    try {
      const cmdline = readFileSync(`/proc/${node.pid}/cmdline`, "utf8").split("\0");
      for (const flag of SERVER_NODE_FLAGS) expect(cmdline).to.include(flag);
      expect(node.recentLines().join("\n")).to.not.contain("was started without");
    } finally {
      await node.stop();
    }
  });

  it("a node started by plain `node main.js` warns, naming the flags and the fix, and still serves", async () => {
    const { "data.dir": dataDir, ...overrides } = loopbackNodeFlags(dir.join("b"));
    const args = [castleCliPath(), "server", "start", "--data-dir", dataDir as string];
    for (const [key, value] of Object.entries(overrides)) args.push("--override", `${key}=${value}`);
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    try {
      let stderr = "";
      let stdout = "";
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      child.stdout.on("data", (d: Buffer) => {
        stdout += d.toString();
      });
      const deadline = Date.now() + 20_000;
      while (!stdout.includes("Ctrl-C stops it") && Date.now() < deadline && child.exitCode === null)
        await new Promise((r) => setTimeout(r, 50));
      expect(stdout, stderr).to.contain("Ctrl-C stops it");
      expect(stderr).to.contain(`started without ${SERVER_NODE_FLAGS.join(" ")}`);
      expect(stderr).to.contain("castle server start");
    } finally {
      child.kill("SIGKILL");
      await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(undefined) : child.once("exit", r)));
    }
  });
});

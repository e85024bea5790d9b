// castle storage format / random-uuid: a data directory's identity from the command line.

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TempDir } from "@castle/testkit";
import { expect } from "chai";
import { runCli } from "./run-cli.js";

describe("castle storage", function () {
  this.timeout(20_000);
  let dir: TempDir;
  beforeEach(() => {
    dir = new TempDir();
  });
  afterEach(() => dir.cleanup());

  it("random-uuid prints a new 22-character id each time, plain or as JSON", async () => {
    const a = await runCli(["storage", "random-uuid"]);
    const b = await runCli(["storage", "random-uuid"]);
    expect(a.code, a.stderr).to.equal(0);
    expect(a.stdout).to.match(/^[A-Za-z0-9_-]{22}\n$/);
    expect(b.stdout).to.not.equal(a.stdout);
    const json = await runCli(["--json", "storage", "random-uuid"]);
    expect((JSON.parse(json.stdout) as { clusterId: string }).clusterId).to.match(/^[A-Za-z0-9_-]{22}$/);
  });

  it("format writes meta.properties, is idempotent, and refuses another identity", async () => {
    const dataDir = dir.join("data");
    const clusterId = (await runCli(["storage", "random-uuid"])).stdout.trim();
    const formatted = await runCli(["storage", "format", "--data-dir", dataDir, "--cluster-id", clusterId, "--node-id", "2"]);
    expect(formatted.code, formatted.stderr).to.equal(0);
    expect(formatted.stdout).to.equal(`Formatted ${dataDir}: cluster ${clusterId}, node 2.\n`);
    expect(readFileSync(join(dataDir, "meta.properties"), "utf8")).to.contain(`cluster.id=${clusterId}\nnode.id=2\n`);

    const again = await runCli(["--json", "storage", "format", "--data-dir", dataDir, "--cluster-id", clusterId, "--node-id", "2"]);
    expect(again.code, again.stderr).to.equal(0);
    expect(JSON.parse(again.stdout)).to.deep.equal({ dataDir, clusterId, nodeId: 2, formatted: false });

    const other = await runCli(["storage", "format", "--data-dir", dataDir, "--cluster-id", "another", "--node-id", "2"]);
    expect(other.code).to.equal(1);
    expect(other.stderr).to.equal(
      `error: data directory ${dataDir} is already formatted as cluster ${clusterId}, node 2 (meta.properties); ` +
        "it will not be reformatted as cluster another, node 2. use that identity, or move the directory aside to start a new one\n",
    );
  });

  it("format takes data.dir, node.id and cluster.id from --config, flags winning", async () => {
    const dataDir = dir.join("from-config");
    const file = dir.join("server.properties");
    writeFileSync(file, `data.dir=${dataDir}\nnode.id=9\ncluster.id=fileCluster\ncontroller.quorum.voters=3@localhost:9093\n`);
    const result = await runCli(["--json", "storage", "format", "--config", file, "--node-id", "3"]);
    expect(result.code, result.stderr).to.equal(0);
    expect(JSON.parse(result.stdout)).to.deep.equal({ dataDir, clusterId: "fileCluster", nodeId: 3, formatted: true });
    const bad = dir.join("bad.properties");
    writeFileSync(bad, `data.dir=${dataDir}\nnode.id=4\ncontroller.quorum.voters=3@localhost:9093\n`);
    const refused = await runCli(["storage", "format", "--config", bad, "--cluster-id", "fileCluster"]);
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.match(/node.id 4 has the controller role but is not in controller.quorum.voters/);
  });

  const data = () => dir.join("data");
  const cases: { what: string; args: () => string[]; stderr: RegExp }[] = [
    {
      what: "no cluster id",
      args: () => ["storage", "format", "--data-dir", data(), "--node-id", "1"],
      stderr: /^error: no cluster id given\. give --cluster-id ID \(make one with `castle storage random-uuid`\)/,
    },
    {
      what: "a malformed cluster id",
      args: () => ["storage", "format", "--data-dir", data(), "--node-id", "1", "--cluster-id", "not/valid"],
      stderr: /^error: --cluster-id: cluster id "not\/valid" is not 1-64 characters/,
    },
    {
      what: "a negative node id",
      args: () => ["storage", "format", "--data-dir", data(), "--node-id", "-1", "--cluster-id", "abc"],
      stderr: /--node-id.*'-1' is invalid\. expected an integer >= 0/,
    },
    {
      what: "no node id",
      args: () => ["storage", "format", "--data-dir", data(), "--cluster-id", "abc"],
      stderr: /^error: no node id given\. give --node-id N/,
    },
    {
      what: "no data directory",
      args: () => ["storage", "format", "--cluster-id", "abc", "--node-id", "1"],
      stderr: /^error: no data directory given\. give --data-dir DIR \(with --node-id N\), or --config FILE/,
    },
    {
      what: "a missing config file",
      args: () => ["storage", "format", "--config", dir.join("nope.properties"), "--cluster-id", "abc"],
      stderr: /^error: cannot read config file/,
    },
  ];
  for (const { what, args, stderr } of cases) {
    it(`format refuses ${what} with a clear message and writes nothing`, async () => {
      const result = await runCli(args());
      expect(result.code, result.stderr).to.equal(1);
      expect(result.stderr).to.match(stderr);
      expect(result.stderr, "no stack trace").to.not.match(/\n\s+at /);
      expect(existsSync(data()), "nothing written").to.equal(false);
    });
  }
});

// The CLI as a child process against a node started in-process on ephemeral ports.

import { readdirSync } from "node:fs";
import { join } from "node:path";
import { type RunningNode, startInProcessNode, TempDir } from "@castle/testkit";
import { expect } from "chai";
import { runCli } from "./run-cli.js";

describe("castle against a node", function () {
  this.timeout(30_000);
  let dir: TempDir;
  let node: RunningNode;
  let cli: (args: string[], stdin?: string) => ReturnType<typeof runCli>;

  before(async () => {
    dir = new TempDir();
    node = await startInProcessNode(dir.join("data"));
    const bootstrap = `127.0.0.1:${node.clientPort}`;
    cli = (args, stdin) => runCli(args, { stdin, env: { CASTLE_BOOTSTRAP: bootstrap } });
  });

  after(async () => {
    await node?.close();
    dir?.cleanup();
  });

  it("creates, lists, describes, alters and deletes a topic", async () => {
    const created = await cli([
      "topic",
      "create",
      "orders",
      "--partitions",
      "2",
      "--replication-factor",
      "1",
      "--config",
      "retention.ms=60000",
    ]);
    expect(created.code, created.stderr).to.equal(0);
    expect(created.stdout).to.match(/Created topic orders/);
    const again = await cli(["topic", "create", "orders", "--partitions", "2"]);
    expect(again.code).to.equal(1);
    expect(again.stderr).to.match(/^error: .*TOPIC_ALREADY_EXISTS/);
    expect((await cli(["topic", "create", "orders", "--if-not-exists"])).code).to.equal(0);
    const list = await cli(["topic", "list"]);
    expect(list.stdout).to.match(/orders/);
    const described = await cli(["topic", "describe", "orders"]);
    expect(described.stdout).to.match(/Topic: orders\tTopicId: \S+\tPartitionCount: 2\tReplicationFactor: 1\tConfigs: retention.ms=60000/);
    expect(described.stdout).to.match(/\tTopic: orders\tPartition: 1\tLeader: 1\tReplicas: 1\tIsr: 1/);
    const altered = await cli(["topic", "alter", "orders", "--partitions", "3", "--delete-config", "retention.ms"]);
    expect(altered.code, altered.stderr).to.equal(0);
    const json = await cli(["--json", "topic", "describe", "orders"]);
    const parsed = JSON.parse(json.stdout) as { partitions: unknown[]; configs: Record<string, string> }[];
    expect(parsed[0]?.partitions).to.have.length(3);
    expect(parsed[0]?.configs).to.deep.equal({});
    expect((await cli(["topic", "delete", "orders"])).code).to.equal(0);
    const gone = await cli(["topic", "describe", "orders"]);
    expect(gone.code).to.equal(1);
    expect(gone.stderr).to.match(/UNKNOWN_TOPIC_OR_PARTITION/);
  });

  it("produces stdin lines and consumes them back with keys", async () => {
    expect((await cli(["topic", "create", "lines", "--partitions", "1"])).code).to.equal(0);
    const produced = await cli(["produce", "--topic", "lines", "--key-separator", ":"], "k1:hello\nk2:world\nk3:again\n");
    expect(produced.code, produced.stderr).to.equal(0);
    expect(produced.stderr).to.match(/Produced 3 record\(s\) to lines/);
    const consumed = await cli([
      "consume",
      "--topic",
      "lines",
      "--from-beginning",
      "--max-messages",
      "3",
      "--print-key",
      "--key-separator",
      "=",
    ]);
    expect(consumed.code, consumed.stderr).to.equal(0);
    expect(consumed.stdout).to.equal("k1=hello\nk2=world\nk3=again\n");
    expect(consumed.stderr).to.match(/Processed a total of 3 messages/);
    const fromOffset = await cli(["consume", "--topic", "lines", "--partition", "0", "--offset", "2", "--timeout-ms", "500"]);
    expect(fromOffset.stdout).to.equal("again\n");
    expect(fromOffset.stderr).to.match(/Processed a total of 1 messages/);
  });

  it("refuses to produce to a missing topic with the fix", async () => {
    const result = await cli(["produce", "--topic", "nope"], "x\n");
    expect(result.code).to.equal(1);
    expect(result.stderr).to.match(/^error: topic 'nope' does not exist\. create it with `castle topic create nope`/);
  });

  it("describes the cluster", async () => {
    const result = await cli(["--json", "cluster", "describe"]);
    expect(result.code, result.stderr).to.equal(0);
    const cluster = JSON.parse(result.stdout) as { brokers: { nodeId: number }[]; clusterId: string };
    expect(cluster.brokers.map((b) => b.nodeId)).to.deep.equal([1]);
    expect(cluster.clusterId).to.be.a("string").and.not.equal("");
  });

  it("runs perf produce and perf consume", async () => {
    expect((await cli(["topic", "create", "perf", "--partitions", "2"])).code).to.equal(0);
    const produced = await cli([
      "--json",
      "perf",
      "produce",
      "--topic",
      "perf",
      "--num-records",
      "20000",
      "--record-size",
      "100",
      "--acks",
      "1",
    ]);
    expect(produced.code, produced.stderr).to.equal(0);
    const p = JSON.parse(produced.stdout) as { records: number; recordsPerSec: number; latencyMs: { p99Ms: number } };
    expect(p.records).to.equal(20000);
    expect(p.latencyMs.p99Ms).to.be.greaterThan(0);
    const consumed = await cli(["--json", "perf", "consume", "--topic", "perf", "--messages", "20000"]);
    expect(consumed.code, consumed.stderr).to.equal(0);
    const c = JSON.parse(consumed.stdout) as { records: number; complete: boolean };
    expect(c).to.include({ records: 20000, complete: true });
  });

  it("dumps a segment file and verifies it", async () => {
    expect((await cli(["topic", "create", "dump", "--partitions", "1"])).code).to.equal(0);
    expect((await cli(["produce", "--topic", "dump", "--key-separator", ":"], "a:1\nb:2\n")).code).to.equal(0);
    const segment = findSegment(dir.join("data"), "dump-0");
    const dumped = await cli(["log", "dump", segment, "--print-data", "--verify"]);
    expect(dumped.code, dumped.stderr).to.equal(0);
    expect(dumped.stdout).to.match(
      /baseOffset: 0 lastOffset: 1 count: 2 .* position: 0 CreateTime: \d+ size: \d+ magic: 2 compresscodec: none crc: \d+ isvalid: true/,
    );
    expect(dumped.stdout).to.match(/\| offset: 1 CreateTime: \d+ keySize: 1 valueSize: 1 headers: \[\] key: b payload: 2/);
    expect(dumped.stdout).to.match(/Verified/);
  });
});

function findSegment(root: string, partitionDir: string): string {
  const stack = [root];
  while (stack.length > 0) {
    const current = stack.pop() as string;
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      const path = join(current, entry.name);
      if (entry.isDirectory()) stack.push(path);
      else if (entry.name.endsWith(".log") && current.endsWith(partitionDir)) return path;
    }
  }
  throw new Error(`no segment under ${root} for ${partitionDir}`);
}

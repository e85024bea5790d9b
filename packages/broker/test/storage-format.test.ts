import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  ensureNodeIdentity,
  formatStorage,
  META_PROPERTIES_FILE,
  readMetaProperties,
  renderMetaProperties,
  StorageFormatError,
  startNode,
} from "@castle/broker";
import { silentLogger } from "@castle/common";
import { loopbackNodeFlags, TempDir } from "@castle/testkit";
import { expect } from "chai";

const CLUSTER = "MkU3OEVBNTcwNTJENDM2Qg";

/** Every file under `root` with a hash of its bytes: equal before and after = nothing changed on disk. */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) visit(path);
      else out[path.slice(root.length)] = createHash("sha256").update(readFileSync(path)).digest("hex");
    }
  };
  visit(root);
  return out;
}

async function refusal(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected the node to refuse to start");
}

describe("storage format (meta.properties)", function () {
  this.timeout(20_000);
  let dir: TempDir;
  let dataDir: string;
  beforeEach(() => {
    dir = new TempDir();
    dataDir = dir.join("data");
  });
  afterEach(() => dir.cleanup());

  it("writes Kafka's file, byte for byte (golden)", () => {
    const result = formatStorage(dataDir, { clusterId: CLUSTER, nodeId: 7 });
    expect(result.written).to.equal(true);
    expect(readFileSync(join(dataDir, META_PROPERTIES_FILE), "utf8")).to.equal(
      "# Castle data directory identity, written by `castle storage format` or on first start. Do not edit.\n" +
        `version=1\ncluster.id=${CLUSTER}\nnode.id=7\n`,
    );
    expect(renderMetaProperties(result.meta)).to.equal(readFileSync(join(dataDir, META_PROPERTIES_FILE), "utf8"));
    expect(readMetaProperties(dataDir)).to.deep.equal({ version: 1, clusterId: CLUSTER, nodeId: 7 });
    expect(existsSync(join(dataDir, `${META_PROPERTIES_FILE}.tmp`)), "no temp file left").to.equal(false);
  });

  it("reads nothing from an unformatted directory", () => {
    expect(readMetaProperties(dataDir)).to.equal(undefined);
  });

  it("is idempotent for the same identity and refuses another one without writing", () => {
    formatStorage(dataDir, { clusterId: CLUSTER, nodeId: 1 });
    expect(formatStorage(dataDir, { clusterId: CLUSTER, nodeId: 1 }).written).to.equal(false);
    const before = snapshot(dataDir);
    const cases: Array<[string, { clusterId: string; nodeId: number }]> = [
      ["another cluster", { clusterId: "other", nodeId: 1 }],
      ["another node", { clusterId: CLUSTER, nodeId: 2 }],
    ];
    for (const [what, identity] of cases) {
      expect(() => formatStorage(dataDir, identity), what)
        .to.throw(StorageFormatError, /is already formatted as cluster MkU3OEVBNTcwNTJENDM2Qg, node 1/)
        .with.property("code", "ALREADY_FORMATTED");
    }
    expect(snapshot(dataDir)).to.deep.equal(before);
  });

  it("refuses bad identities", () => {
    expect(() => formatStorage(dataDir, { clusterId: "a b", nodeId: 1 })).to.throw(/cluster id "a b" is not 1-64 characters/);
    expect(() => formatStorage(dataDir, { clusterId: "", nodeId: 1 })).to.throw(/cluster id "" is not/);
    expect(() => formatStorage(dataDir, { clusterId: CLUSTER, nodeId: -1 })).to.throw(/node id -1 is invalid/);
    expect(existsSync(dataDir), "nothing created").to.equal(false);
  });

  const corrupt: Array<[string, string, RegExp]> = [
    ["an unknown version", "version=2\ncluster.id=abc\nnode.id=1\n", /has version 2, expected 1/],
    ["no cluster id", "version=1\nnode.id=1\n", /has no valid cluster.id/],
    ["a bad node id", "version=1\ncluster.id=abc\nnode.id=x\n", /has no valid node.id \(got "x"\)/],
    ["a line without =", "version=1\ngarbage\n", /is unreadable/],
  ];
  for (const [what, text, message] of corrupt) {
    it(`refuses a meta.properties with ${what}`, () => {
      mkdirSync(dataDir);
      writeFileSync(join(dataDir, META_PROPERTIES_FILE), text);
      expect(() => readMetaProperties(dataDir))
        .to.throw(message)
        .with.property("code", "CORRUPT_META_PROPERTIES");
    });
  }

  describe("at node start", () => {
    const flags = (extra: Record<string, string> = {}) => ({ flags: loopbackNodeFlags(dataDir, extra) });

    it("formats a single node's directory on first start and keeps the id across restarts", async () => {
      const first = await startNode(flags(), { logger: silentLogger });
      const clusterId = first.clusterId;
      await first.close();
      expect(readMetaProperties(dataDir)).to.deep.equal({ version: 1, clusterId, nodeId: 1 });
      expect(clusterId).to.match(/^[A-Za-z0-9_-]{22}$/);
      const second = await startNode(flags(), { logger: silentLogger });
      expect(second.clusterId).to.equal(clusterId);
      await second.close();
    });

    it("formats with the configured cluster.id when one is set", async () => {
      const node = await startNode(flags({ "cluster.id": CLUSTER, "node.id": "5" }), { logger: silentLogger });
      expect(node.clusterId).to.equal(CLUSTER);
      await node.close();
      expect(readMetaProperties(dataDir)).to.deep.equal({ version: 1, clusterId: CLUSTER, nodeId: 5 });
    });

    it("refuses a directory of another cluster, naming both ids and the fix, and changes nothing", async () => {
      await (await startNode(flags({ "cluster.id": CLUSTER }), { logger: silentLogger })).close();
      const before = snapshot(dataDir);
      const error = await refusal(startNode(flags({ "cluster.id": "otherCluster" }), { logger: silentLogger }));
      expect(error.message).to.equal(
        `data directory ${dataDir} belongs to cluster ${CLUSTER} (meta.properties), but cluster.id is otherCluster; ` +
          `point data.dir at cluster otherCluster's data, or set cluster.id=${CLUSTER}`,
      );
      expect(error).to.have.property("code", "CLUSTER_ID_MISMATCH");
      expect(snapshot(dataDir)).to.deep.equal(before);
    });

    it("refuses a directory of another node, naming both ids and the fix, and changes nothing", async () => {
      await (await startNode(flags({ "node.id": "1" }), { logger: silentLogger })).close();
      const before = snapshot(dataDir);
      const error = await refusal(startNode(flags({ "node.id": "2" }), { logger: silentLogger }));
      expect(error.message).to.equal(
        `data directory ${dataDir} belongs to node 1 (meta.properties), but node.id is 2; set node.id=1, or point data.dir at node 2's directory`,
      );
      expect(error).to.have.property("code", "NODE_ID_MISMATCH");
      expect(snapshot(dataDir)).to.deep.equal(before);
    });

    it("refuses an unformatted directory when voters are configured, telling the user to format it", async () => {
      const quorum = { "node.id": "1", "controller.quorum.voters": "1@127.0.0.1:19093,2@127.0.0.1:19094,3@127.0.0.1:19095" };
      const error = await refusal(startNode(flags(quorum), { logger: silentLogger }));
      expect(error.message).to.match(
        /is not formatted \(no meta.properties\) and controller.quorum.voters is set; run `castle storage format --data-dir .* --cluster-id ID --node-id 1` first/,
      );
      expect(existsSync(dataDir), "no directory created").to.equal(false);
      // Formatted by hand, the same node's identity is accepted (the quorum itself is not wired yet).
      formatStorage(dataDir, { clusterId: CLUSTER, nodeId: 1 });
      expect(ensureNodeIdentity({ dataDir, clusterId: CLUSTER, nodeId: 1, singleNode: false }).source).to.equal("existing");
    });

    it("takes the cluster id of a directory from before meta.properties from its cluster-metadata.json", async () => {
      const clusterId = "legacyCluster1";
      mkdirSync(dataDir, { recursive: true });
      writeFileSync(join(dataDir, "cluster-metadata.json"), JSON.stringify({ version: 1, clusterId, topics: [] }));

      const error = await refusal(startNode(flags({ "cluster.id": "otherCluster" }), { logger: silentLogger }));
      expect(error.message).to.match(
        new RegExp(`belongs to cluster ${clusterId} \\(cluster-metadata.json\\), but cluster.id is otherCluster`),
      );
      expect(existsSync(join(dataDir, META_PROPERTIES_FILE)), "refusal writes nothing").to.equal(false);

      const node = await startNode(flags({ "node.id": "3" }), { logger: silentLogger });
      expect(node.clusterId).to.equal(clusterId);
      await node.close();
      expect(readMetaProperties(dataDir)).to.deep.equal({ version: 1, clusterId, nodeId: 3 });
    });
  });
});

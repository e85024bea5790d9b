// A client generated from proto/ in another language (Python, by Debian's protoc and its
// gRPC plugin) creates a topic, produces plain records and reads them back from a real node.

import { execFile, execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { type RunningNode, startInProcessNode, TempDir } from "@castle/testkit";
import { expect } from "chai";

const PYTHON = "/usr/bin/python3";

function toolsMissing(): string | null {
  const protoc = spawnSync("protoc", ["--version"]);
  if (protoc.status !== 0) return "protoc is not installed (apt-get install protobuf-compiler)";
  const plugin = spawnSync("which", ["grpc_python_plugin"]);
  if (plugin.status !== 0) return "grpc_python_plugin is not installed (apt-get install protobuf-compiler-grpc)";
  const grpcio = spawnSync(PYTHON, ["-c", "import grpc, google.protobuf"]);
  if (grpcio.status !== 0) return "python3-grpcio/python3-protobuf are not installed for /usr/bin/python3";
  return null;
}

describe("a Python client generated from proto/", function () {
  this.timeout(60_000);
  let dir: TempDir;
  let node: RunningNode;

  before(async function () {
    const missing = toolsMissing();
    if (missing) {
      console.warn(`skipping the Python client test: ${missing}; .ci/run installs these`);
      this.skip();
    }
    dir = new TempDir();
    node = await startInProcessNode(dir.join("data"));
  });

  after(async () => {
    await node?.close();
    dir?.cleanup();
  });

  it("creates a topic, produces structured records and fetches them back", async () => {
    const out = dir.join("gen");
    mkdirSync(out);
    const protos = readdirSync("proto/castle/v1").map((f) => `castle/v1/${f}`);
    const plugin = execFileSync("which", ["grpc_python_plugin"]).toString().trim();
    execFileSync("protoc", [
      "-I",
      "proto",
      `--python_out=${out}`,
      `--grpc_python_out=${out}`,
      `--plugin=protoc-gen-grpc_python=${plugin}`,
      ...protos,
    ]);
    // Asynchronously: the node runs in this process and must keep serving while Python talks to it.
    const { stdout } = await promisify(execFile)(PYTHON, [
      join("test/python/client_roundtrip.py"),
      out,
      `127.0.0.1:${node.clientPort}`,
      "py-topic",
    ]);
    const report = JSON.parse(stdout) as Record<string, unknown>;
    expect(report.created_error, "topic creation").to.equal(0);
    expect(report.bad_name_error, "invalid name gives INVALID_TOPIC_EXCEPTION").to.equal(17);
    expect(report.produce_error).to.equal(0);
    expect(report.base_offset).to.equal(0);
    expect(report.fetch_error).to.equal(0);
    expect(report.high_watermark).to.equal(3);
    expect(report.records).to.deep.equal([
      { offset: 0, key: "k1", value: "hello", headers: { h: "v" } },
      { offset: 1, key: "k2", value: "world", headers: {} },
      { offset: 2, key: null, value: "no key", headers: {} },
    ]);
    expect(report.offsets, "earliest and latest").to.deep.equal([0, 3]);
  });
});

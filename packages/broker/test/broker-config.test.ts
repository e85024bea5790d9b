import { writeFileSync } from "node:fs";
import { brokerConfigDefs, envNameFor, loadBrokerConfig, parseProperties } from "@castle/broker";
import { TempDir } from "@castle/testkit";
import { expect } from "chai";

describe("broker config", () => {
  let dir: TempDir;
  beforeEach(() => {
    dir = new TempDir();
  });
  afterEach(() => dir.cleanup());

  it("has the documented defaults (ports from the design)", () => {
    const config = loadBrokerConfig();
    expect(config).to.include({
      nodeId: 1,
      dataDir: "./data",
      clientPort: 9092,
      controllerPort: 9093,
      httpPort: 9644,
      numPartitions: 1,
      autoCreateTopicsEnable: true,
    });
    expect(Object.values(config.sources).every((s) => s === "default")).to.equal(true);
  });

  it("takes flags over env over file over defaults", () => {
    const file = dir.join("server.properties");
    writeFileSync(file, "# comment\nnum.partitions=3\nnode.id = 4\nlog.retention.ms=1000\n\n! also a comment\n");
    const config = loadBrokerConfig({
      file,
      env: { [envNameFor("node.id")]: "5", [envNameFor("log.retention.ms")]: "2000" },
      flags: { "node.id": "6" },
    });
    expect(config).to.include({ numPartitions: 3, logRetentionMs: 2000, nodeId: 6 });
    expect(config.sources).to.include({ "num.partitions": "file", "log.retention.ms": "env", "node.id": "flag" });
  });

  it("names the env variables CASTLE_ plus the key", () => {
    expect(envNameFor("auto.create.topics.enable")).to.equal("CASTLE_AUTO_CREATE_TOPICS_ENABLE");
  });

  const bad: Array<[string, Record<string, string>, RegExp]> = [
    ["unknown key", { "no.such.key": "1" }, /unknown config "no.such.key"/],
    ["non-integer", { "node.id": "one" }, /node.id=one is not an integer/],
    ["negative port", { "client.port": "-1" }, /client.port=-1 is out of range/],
    ["port above 65535", { "http.port": "70000" }, /between 0 and 65535/],
    ["bad boolean", { "auto.create.topics.enable": "yes" }, /not a boolean/],
    ["bad enum", { "log.message.timestamp.type": "Now" }, /not one of CreateTime, LogAppendTime/],
    ["zero partitions", { "num.partitions": "0" }, /num.partitions=0 is out of range/],
  ];
  for (const [what, flags, message] of bad) {
    it(`refuses ${what} with a readable message`, () => {
      expect(() => loadBrokerConfig({ flags })).to.throw(message);
    });
  }

  it("lists every problem at once", () => {
    expect(() => loadBrokerConfig({ flags: { "node.id": "x", "http.port": "-5" } })).to.throw(/node.id=x[\s\S]*http.port=-5/);
  });

  it("refuses a config file line without '=' and a missing file", () => {
    expect(() => parseProperties("just words", "f.properties")).to.throw(/f.properties:1: expected key=value/);
    expect(() => loadBrokerConfig({ file: dir.join("missing.properties") })).to.throw(/cannot read config file/);
  });

  it("documents every key", () => {
    for (const def of brokerConfigDefs) expect(def.doc.length, def.name).to.be.greaterThan(10);
  });
});

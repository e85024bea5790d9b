import { writeFileSync } from "node:fs";
import { brokerConfigDefs, brokerConfigText, envNameFor, loadBrokerConfig, parseProperties } from "@castle/broker";
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

  describe("node roles and the quorum", () => {
    it("defaults to a combined single node that is its own only voter", () => {
      const config = loadBrokerConfig({ flags: { "node.id": "3", "controller.port": "9300" } });
      expect([...config.processRoles]).to.have.members(["broker", "controller"]);
      expect(config.singleNode).to.equal(true);
      expect(config.controllerQuorumVoters).to.deep.equal([{ id: 3, host: "localhost", port: 9300 }]);
      expect(config).to.include({
        brokerSessionTimeoutMs: 9000,
        brokerHeartbeatIntervalMs: 2000,
        autoLeaderRebalanceEnable: true,
        leaderImbalancePerBrokerPercentage: 10,
        leaderImbalanceCheckIntervalSeconds: 300,
        metadataSnapshotEveryEntries: 10000,
      });
    });

    it("parses roles and voters, IPv6 hosts included", () => {
      const config = loadBrokerConfig({
        flags: { "node.id": "2", "process.roles": " controller ", "controller.quorum.voters": "1@a:9093, 2@[::1]:9094,3@c.example:9095" },
      });
      expect([...config.processRoles]).to.deep.equal(["controller"]);
      expect(config.singleNode).to.equal(false);
      expect(config.controllerQuorumVoters).to.deep.equal([
        { id: 1, host: "a", port: 9093 },
        { id: 2, host: "::1", port: 9094 },
        { id: 3, host: "c.example", port: 9095 },
      ]);
    });

    it("accepts a broker-only node that is not a voter", () => {
      const config = loadBrokerConfig({ flags: { "node.id": "4", "process.roles": "broker", "controller.quorum.voters": "1@a:9093" } });
      expect([...config.processRoles]).to.deep.equal(["broker"]);
    });

    const voters = "1@a:9093,2@b:9093,3@c:9093";
    const badRoles: Array<[string, Record<string, string>, RegExp]> = [
      ["empty roles", { "process.roles": " , " }, /process.roles is empty; set it to broker, controller or broker,controller/],
      ["an unknown role", { "process.roles": "broker,zookeeper" }, /process.roles has unknown role "zookeeper"; use broker, controller/],
      [
        "a controller not among the voters",
        { "node.id": "4", "controller.quorum.voters": voters },
        /node.id 4 has the controller role but is not in controller.quorum.voters \(ids 1, 2, 3\); add 4@host:port/,
      ],
      [
        "a broker-only node among the voters",
        { "node.id": "1", "process.roles": "broker", "controller.quorum.voters": voters },
        /node.id 1 is in controller.quorum.voters but process.roles has no controller/,
      ],
      ["a broker-only node without voters", { "process.roles": "broker" }, /process.roles=broker needs controller.quorum.voters/],
      [
        "duplicate voter ids",
        { "controller.quorum.voters": "1@a:9093,1@b:9093" },
        /controller.quorum.voters lists node id 1 twice; give every node its own node.id/,
      ],
      ["a voter without an id", { "controller.quorum.voters": "a:9093" }, /entry "a:9093" is not id@host:port; write e.g. 1@host1:9093/],
      ["a voter without a port", { "controller.quorum.voters": "1@a" }, /entry "1@a" is not id@host:port/],
      ["a voter with a negative id", { "controller.quorum.voters": "-1@a:9093" }, /entry "-1@a:9093" is not id@host:port/],
      ["a voter with an empty host", { "controller.quorum.voters": "1@:9093" }, /entry "1@:9093" is not id@host:port/],
      ["a voter with port 0", { "controller.quorum.voters": "1@a:0" }, /entry "1@a:0" has port 0; use 1..65535/],
      [
        "a replica fetch address without a port",
        { "replica.fetch.addresses": "2@a" },
        /replica.fetch.addresses entry "2@a" is not id@host:port/,
      ],
      ["a voter with port 70000", { "controller.quorum.voters": "1@a:70000" }, /entry "1@a:70000" has port 70000; use 1..65535/],
      ["a voter with a non-numeric port", { "controller.quorum.voters": "1@a:x" }, /entry "1@a:x" is not id@host:port/],
      [
        "a heartbeat not below the session timeout",
        { "broker.heartbeat.interval.ms": "9000" },
        /broker.heartbeat.interval.ms=9000 is not below broker.session.timeout.ms=9000/,
      ],
      ["a cluster id with spaces", { "cluster.id": "my cluster" }, /cluster.id: cluster id "my cluster" is not 1-64 characters/],
      [
        "imbalance above 100%",
        { "leader.imbalance.per.broker.percentage": "101" },
        /leader.imbalance.per.broker.percentage=101 is out of range/,
      ],
    ];
    for (const [what, flags, message] of badRoles) {
      it(`refuses ${what} with a message naming the fix`, () => {
        expect(() => loadBrokerConfig({ flags }), what).to.throw(message);
      });
    }

    it("shows roles and voters in describe form as configured", () => {
      const single = loadBrokerConfig();
      expect(brokerConfigText(single, "process.roles")).to.equal("broker,controller");
      expect(brokerConfigText(single, "controller.quorum.voters")).to.equal("");
      const quorum = loadBrokerConfig({ flags: { "node.id": "2", "controller.quorum.voters": "1@a:1,2@[::1]:2" } });
      expect(brokerConfigText(quorum, "controller.quorum.voters")).to.equal("1@a:1,2@[::1]:2");
      expect(brokerConfigText(quorum, "node.id")).to.equal("2");
    });
  });

  it("documents every key", () => {
    for (const def of brokerConfigDefs) expect(def.doc.length, def.name).to.be.greaterThan(10);
  });
});

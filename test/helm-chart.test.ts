// The Helm chart deploy/helm/castle, rendered with Helm's template semantics (see
// test/helm/chart-renderer.ts) under default values and variations: every object passes the
// Kubernetes API's schemas (test/helm/k8s-validation.ts), the StatefulSets start nodes the way
// Castle needs (voters from pod DNS names, probes, non-root), and bad values are refused with
// a message that names the value to change.

import { readFileSync } from "node:fs";
import { expect } from "chai";
import {
  type K8sObject,
  type RenderedChart,
  type RenderedManifest,
  renderChart,
  renderChartOrThrow,
  rendererUnavailable,
} from "./helm/chart-renderer.js";
import { k8sSchemaProblems } from "./helm/k8s-validation.js";

type Json = { [key: string]: unknown };

const RELEASE = "demo";
const NAMESPACE = "data";
const HEADLESS = "demo-castle-headless";

function find(chart: RenderedChart, kind: string, name: string): RenderedManifest {
  const found = chart.manifests.find((m) => m.kind === kind && m.name === name);
  const all = chart.manifests.map((m) => `${m.kind}/${m.name}`).join(", ");
  expect(found, `${kind}/${name} among ${all}`).to.not.equal(undefined);
  return found as RenderedManifest;
}

/** Walks a path of keys and indexes through plain JSON; undefined where it leads nowhere. */
function at(value: unknown, ...path: (string | number)[]): unknown {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Json)[key as string];
  }
  return current;
}

function podSpec(statefulSet: RenderedManifest): Json {
  return at(statefulSet.object, "spec", "template", "spec") as Json;
}

function container(statefulSet: RenderedManifest, name: string, list = "containers"): Json {
  const found = (podSpec(statefulSet)[list] as Json[]).find((c) => c["name"] === name);
  expect(found, `${list} ${name} of ${statefulSet.name}`).to.not.equal(undefined);
  return found as Json;
}

function envOf(c: Json): Map<string, Json> {
  return new Map((c["env"] as Json[]).map((e) => [e["name"] as string, e]));
}

/** A key=value config file as a map (comments and blank lines skipped). */
function properties(text: string): Map<string, string> {
  const entries = text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)] as [string, string]);
  return new Map(entries);
}

function configData(chart: RenderedChart): Json {
  return at(find(chart, "ConfigMap", "demo-castle").object, "data") as Json;
}

function expectedVoters(count: number): string {
  return Array.from({ length: count }, (_, i) => `${i + 1}@demo-castle-${i}.${HEADLESS}.${NAMESPACE}.svc.cluster.local:9093`).join(",");
}

/** The server config keys docs/configuration.md documents (generated from the code's definitions). */
function documentedConfigKeys(): Set<string> {
  const docs = readFileSync("docs/configuration.md", "utf8");
  return new Set([...docs.matchAll(/^\| `([a-z0-9.]+)` \| `CASTLE_/gm)].map((m) => m[1] as string));
}

async function expectValidObjects(chart: RenderedChart, variation: string): Promise<void> {
  expect(chart.manifests.length, `${variation}: objects rendered`).to.be.greaterThan(0);
  for (const manifest of chart.manifests) {
    const problems = await k8sSchemaProblems(manifest.object);
    expect(problems, `${variation}: ${manifest.kind}/${manifest.name} from ${manifest.source}`).to.deep.equal([]);
    expect(at(manifest.object, "metadata", "namespace"), `${variation}: ${manifest.kind}/${manifest.name} namespace`).to.equal(NAMESPACE);
  }
}

describe("Helm chart deploy/helm/castle", function () {
  this.timeout(300_000);

  before(function () {
    const missing = rendererUnavailable();
    if (missing !== undefined) {
      console.warn(`skipping the Helm chart tests: ${missing}; .ci/run installs it`);
      this.skip();
    }
  });

  describe("with default values", () => {
    let chart: RenderedChart;
    before(() => {
      chart = renderChartOrThrow({}, { release: RELEASE, namespace: NAMESPACE });
    });

    it("renders the objects of three combined nodes, in Helm's install order", () => {
      expect(chart.manifests.map((m) => `${m.kind}/${m.name}`)).to.deep.equal([
        "PodDisruptionBudget/demo-castle",
        "ServiceAccount/demo-castle",
        "Secret/demo-castle-cluster-id",
        "ConfigMap/demo-castle",
        "Service/demo-castle-headless",
        "Service/demo-castle",
        "StatefulSet/demo-castle",
      ]);
    });

    it("passes the Kubernetes API schemas, unknown fields included", async () => {
      await expectValidObjects(chart, "defaults");
    });

    it("lists the voters by the StatefulSet's pod DNS names, node id = ordinal + 1", () => {
      const config = properties(configData(chart)["controller.properties"] as string);
      expect(config.get("controller.quorum.voters")).to.equal(expectedVoters(3));
      expect(config.get("process.roles")).to.equal("broker,controller");
      expect(config.get("data.dir")).to.equal("/var/lib/castle/data");
      const statefulSet = find(chart, "StatefulSet", "demo-castle");
      expect(at(statefulSet.object, "spec", "serviceName")).to.equal(HEADLESS);
      expect(at(statefulSet.object, "spec", "replicas")).to.equal(3);
      const env = envOf(container(statefulSet, "castle"));
      expect(at(env.get("NODE_ID_OFFSET"), "value")).to.equal("1");
      expect(at(env.get("HEADLESS_SERVICE"), "value")).to.equal(HEADLESS);
      expect(at(env.get("CASTLE_CLUSTER_ID"), "valueFrom", "secretKeyRef", "name")).to.equal("demo-castle-cluster-id");
    });

    it("writes only config keys the server knows, and reads only known CASTLE_* variables", () => {
      const known = documentedConfigKeys();
      expect(known.size, "keys found in docs/configuration.md").to.be.greaterThan(20);
      for (const key of properties(configData(chart)["controller.properties"] as string).keys()) {
        expect(known.has(key), `controller.properties: ${key} is a documented config key`).to.equal(true);
      }
      const script = configData(chart)["castle-node.sh"] as string;
      const statefulSet = find(chart, "StatefulSet", "demo-castle");
      const castleVars = [...envOf(container(statefulSet, "castle")).keys(), ...script.matchAll(/\b(CASTLE_[A-Z_]+)=/g)].map((v) =>
        typeof v === "string" ? v : (v[1] as string),
      );
      const knownVars = new Set([...known].map((key) => `CASTLE_${key.toUpperCase().replaceAll(".", "_")}`));
      for (const name of castleVars.filter((v) => v.startsWith("CASTLE_"))) {
        expect(knownVars.has(name), `${name} is a config key's variable`).to.equal(true);
      }
    });

    it("formats the data dir in an init container, then starts the node from the same script", () => {
      const statefulSet = find(chart, "StatefulSet", "demo-castle");
      expect(container(statefulSet, "format", "initContainers")["command"]).to.deep.equal([
        "/bin/sh",
        "/etc/castle/castle-node.sh",
        "format",
      ]);
      expect(container(statefulSet, "castle")["command"]).to.deep.equal(["/bin/sh", "/etc/castle/castle-node.sh", "start"]);
      const script = configData(chart)["castle-node.sh"] as string;
      expect(script).to.contain('castle storage format --config "$CONFIG_FILE"');
      expect(script).to.contain('castle server start --config "$CONFIG_FILE"');
      expect(at(statefulSet.object, "spec", "podManagementPolicy"), "voters start together").to.equal("Parallel");
    });

    it("probes /readyz for readiness and /healthz for liveness on the http port", () => {
      const castle = container(find(chart, "StatefulSet", "demo-castle"), "castle");
      expect(at(castle, "readinessProbe", "httpGet")).to.deep.equal({ path: "/readyz", port: "http" });
      expect(at(castle, "livenessProbe", "httpGet")).to.deep.equal({ path: "/healthz", port: "http" });
      expect(castle["ports"]).to.deep.equal([
        { name: "client", containerPort: 9092 },
        { name: "controller", containerPort: 9093 },
        { name: "http", containerPort: 9644 },
      ]);
    });

    it("runs as a non-root user with no privileges and a read-only root file system", () => {
      const statefulSet = find(chart, "StatefulSet", "demo-castle");
      const pod = podSpec(statefulSet)["securityContext"] as Json;
      expect(pod["runAsNonRoot"]).to.equal(true);
      expect(pod["runAsUser"]).to.be.greaterThan(0);
      for (const c of [container(statefulSet, "castle"), container(statefulSet, "format", "initContainers")]) {
        expect(c["securityContext"], `${c["name"]}`).to.deep.equal({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ["ALL"] },
        });
      }
    });

    it("gives each pod a volume claim, spreads the pods and bounds disruptions to one", () => {
      const statefulSet = find(chart, "StatefulSet", "demo-castle");
      const claims = at(statefulSet.object, "spec", "volumeClaimTemplates") as Json[];
      expect(claims.map((c) => at(c, "metadata", "name"))).to.deep.equal(["data"]);
      expect(at(claims[0], "spec", "resources", "requests", "storage")).to.equal("10Gi");
      expect(at(claims[0], "spec", "storageClassName"), "the cluster's default class").to.equal(undefined);
      const spec = podSpec(statefulSet);
      expect(
        at(spec, "affinity", "podAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution", 0, "podAffinityTerm", "topologyKey"),
      ).to.equal("kubernetes.io/hostname");
      expect(at(spec, "topologySpreadConstraints", 0, "topologyKey")).to.equal("topology.kubernetes.io/zone");
      expect(at(find(chart, "PodDisruptionBudget", "demo-castle").object, "spec", "maxUnavailable")).to.equal(1);
    });

    it("publishes peers before they are ready and sends clients to brokers only", () => {
      const headless = find(chart, "Service", HEADLESS).object;
      expect(at(headless, "spec", "clusterIP")).to.equal("None");
      expect(at(headless, "spec", "publishNotReadyAddresses")).to.equal(true);
      const client = find(chart, "Service", "demo-castle").object;
      expect(at(client, "spec", "selector", "castle/broker")).to.equal("true");
      const labels = at(find(chart, "StatefulSet", "demo-castle").object, "spec", "template", "metadata", "labels");
      expect(at(labels, "castle/broker"), "combined nodes serve clients").to.equal("true");
    });

    it("annotates pods for Prometheus and renders no ServiceMonitor unless asked", () => {
      const annotations = at(find(chart, "StatefulSet", "demo-castle").object, "spec", "template", "metadata", "annotations") as Json;
      expect(annotations["prometheus.io/scrape"]).to.equal("true");
      expect(annotations["prometheus.io/port"]).to.equal("9644");
      expect(chart.manifests.some((m) => m.kind === "ServiceMonitor")).to.equal(false);
    });

    it("tells in NOTES.txt how to produce and consume with the castle CLI", () => {
      expect(chart.notes).to.contain("CASTLE_BOOTSTRAP=demo-castle:9092");
      expect(chart.notes).to.contain("produce --topic orders");
      expect(chart.notes).to.contain("consume --topic orders --from-beginning");
      expect(chart.notes).to.contain("rollout status statefulset/demo-castle");
    });
  });

  it("separate pools: controller-only voters and broker-only nodes that register with them", async () => {
    const chart = renderChartOrThrow({ controllers: { combined: false }, brokers: { replicas: 2 } });
    await expectValidObjects(chart, "separate pools");
    const controllers = find(chart, "StatefulSet", "demo-castle");
    const brokers = find(chart, "StatefulSet", "demo-castle-broker");
    expect(at(brokers.object, "spec", "replicas")).to.equal(2);
    expect(at(brokers.object, "spec", "serviceName")).to.equal(HEADLESS);
    const data = configData(chart);
    const controllerConfig = properties(data["controller.properties"] as string);
    const brokerConfig = properties(data["broker.properties"] as string);
    expect(controllerConfig.get("process.roles")).to.equal("controller");
    expect(brokerConfig.get("process.roles")).to.equal("broker");
    expect(brokerConfig.get("controller.quorum.voters"), "brokers find the quorum by the voters list").to.equal(expectedVoters(3));
    expect(at(envOf(container(brokers, "castle")).get("NODE_ID_OFFSET"), "value")).to.equal("100");
    expect(at(envOf(container(brokers, "castle")).get("CONFIG_FILE"), "value")).to.equal("/etc/castle/broker.properties");
    const podLabels = (s: RenderedManifest) => at(s.object, "spec", "template", "metadata", "labels") as Json;
    expect(podLabels(controllers)["castle/broker"], "controller-only pods get no client traffic").to.equal(undefined);
    expect(podLabels(brokers)["castle/broker"]).to.equal("true");
    expect(
      chart.manifests.filter((m) => m.kind === "PodDisruptionBudget").map((m) => m.name),
      "one budget per pool",
    ).to.deep.equal(["demo-castle", "demo-castle-broker"]);
  });

  it("persistence off: an emptyDir instead of volume claims", async () => {
    const chart = renderChartOrThrow({ persistence: { enabled: false } });
    await expectValidObjects(chart, "persistence off");
    const statefulSet = find(chart, "StatefulSet", "demo-castle");
    expect(at(statefulSet.object, "spec", "volumeClaimTemplates")).to.equal(undefined);
    const volumes = podSpec(statefulSet)["volumes"] as Json[];
    expect(volumes.find((v) => v["name"] === "data")).to.deep.equal({ name: "data", emptyDir: {} });
  });

  it("metrics on: a ServiceMonitor over the headless Service's http port", async () => {
    const chart = renderChartOrThrow({
      metrics: { podAnnotations: false, serviceMonitor: { enabled: true, labels: { release: "prom" } } },
    });
    await expectValidObjects(chart, "metrics on");
    const monitor = find(chart, "ServiceMonitor", "demo-castle").object;
    expect(at(monitor, "metadata", "labels", "release")).to.equal("prom");
    expect(at(monitor, "spec", "endpoints", 0)).to.deep.include({ port: "http", path: "/metrics" });
    expect(at(monitor, "spec", "selector", "matchLabels", "app.kubernetes.io/component")).to.equal("peers");
    const annotations = at(find(chart, "StatefulSet", "demo-castle").object, "spec", "template", "metadata", "annotations") as Json;
    expect(annotations["prometheus.io/scrape"]).to.equal(undefined);
  });

  it("five voters, a storage class, extra config and per-pool resources render and validate", async () => {
    const chart = renderChartOrThrow({
      controllers: { replicas: 5, resources: { requests: { cpu: 1, memory: "2Gi" } } },
      persistence: { storageClass: "fast-ssd", requireStorageClass: true, size: "50Gi" },
      config: { "log.segment.bytes": 1073741824, "auto.create.topics.enable": false },
      podAntiAffinity: "hard",
    });
    await expectValidObjects(chart, "five voters");
    const config = properties(configData(chart)["controller.properties"] as string);
    expect(config.get("controller.quorum.voters")).to.equal(expectedVoters(5));
    expect(config.get("log.segment.bytes"), "integers keep their digits").to.equal("1073741824");
    expect(config.get("auto.create.topics.enable")).to.equal("false");
    const statefulSet = find(chart, "StatefulSet", "demo-castle");
    expect(at(statefulSet.object, "spec", "volumeClaimTemplates", 0, "spec", "storageClassName")).to.equal("fast-ssd");
    expect(at(container(statefulSet, "castle"), "resources")).to.deep.equal({ requests: { cpu: 1, memory: "2Gi" } });
    expect(
      at(podSpec(statefulSet), "affinity", "podAntiAffinity", "requiredDuringSchedulingIgnoredDuringExecution", 0, "topologyKey"),
    ).to.equal("kubernetes.io/hostname");
  });

  describe("the schema check itself refuses what the API server would", () => {
    const base = (): K8sObject => JSON.parse(JSON.stringify(find(renderChartOrThrow({}), "StatefulSet", "demo-castle").object));
    const cases: { name: string; change: (o: K8sObject) => void; problem: string }[] = [
      {
        name: "an unknown field in a container",
        change: (o) => Object.assign(at(o, "spec", "template", "spec", "containers", 0) as Json, { imagePolicy: "x" }),
        problem: 'spec.template.spec.containers[0].imagePolicy: unknown field "imagePolicy"',
      },
      {
        name: "a misplaced field in the spec",
        change: (o) => Object.assign(at(o, "spec") as Json, { containers: [] }),
        problem: 'StatefulSet.spec.containers: unknown field "containers"',
      },
      {
        name: "replicas as a string",
        change: (o) => Object.assign(at(o, "spec") as Json, { replicas: "3" }),
        problem: "spec/replicas must be integer",
      },
      {
        name: "a container without a name",
        change: (o) => delete (at(o, "spec", "template", "spec", "containers", 0) as Json)["name"],
        problem: "must have required property name",
      },
      {
        name: "a bad podManagementPolicy",
        change: (o) => Object.assign(at(o, "spec") as Json, { podManagementPolicy: "Serial" }),
        problem: "must be equal to one of the allowed values",
      },
    ];
    for (const { name, change, problem } of cases) {
      it(name, async () => {
        const object = base();
        change(object);
        const problems = await k8sSchemaProblems(object);
        expect(problems.join("\n"), name).to.contain(problem);
      });
    }
  });

  describe("the cluster id", () => {
    const clusterIdOf = (chart: RenderedChart): string =>
      Buffer.from(at(find(chart, "Secret", "demo-castle-cluster-id").object, "data", "cluster-id") as string, "base64").toString();

    it("is generated on install: 22 characters a node accepts", () => {
      expect(clusterIdOf(renderChartOrThrow({}))).to.match(/^[A-Za-z0-9]{22}$/);
    });

    it("survives an upgrade: the Secret already in the cluster is reused", () => {
      const existing: K8sObject = {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "demo-castle-cluster-id", namespace: NAMESPACE },
        data: { "cluster-id": Buffer.from("kept-from-install").toString("base64") },
      };
      expect(clusterIdOf(renderChartOrThrow({}, { isUpgrade: true, lookup: [existing] }))).to.equal("kept-from-install");
    });

    it("is clusterId when set", () => {
      expect(clusterIdOf(renderChartOrThrow({ clusterId: "prod-1" }))).to.equal("prod-1");
    });
  });

  describe("refuses bad values with a message naming the value", () => {
    const cases: { name: string; values: object; message: string }[] = [
      { name: "no voters", values: { controllers: { replicas: 0 } }, message: "controllers.replicas: Must be greater than or equal to 1" },
      {
        name: "a negative broker count",
        values: { brokers: { replicas: -1 } },
        message: "brokers.replicas: Must be greater than or equal to 0",
      },
      {
        name: "replicas as a string",
        values: { controllers: { replicas: "3" } },
        message: "controllers.replicas: Invalid type. Expected: integer",
      },
      { name: "an even voter count", values: { controllers: { replicas: 4 } }, message: "controllers.replicas=4 is even" },
      {
        name: "persistence required without a storage class",
        values: { persistence: { requireStorageClass: true } },
        message: "persistence.requireStorageClass=true but persistence.storageClass is empty",
      },
      {
        name: "controller-only voters and no brokers",
        values: { controllers: { combined: false } },
        message: "controllers.combined=false makes the voters controller-only",
      },
      {
        name: "broker ids that collide with voter ids",
        values: { brokers: { replicas: 1, nodeIdOffset: 2 } },
        message: "brokers.nodeIdOffset=2 collides with the voters' node ids 1..3",
      },
      {
        name: "a key the chart owns in config",
        values: { config: { "node.id": 7 } },
        message: "config sets node.id, which the chart sets itself",
      },
      { name: "an unknown top-level value", values: { replicas: 3 }, message: "Additional property replicas is not allowed" },
      { name: "a cluster id the server refuses", values: { clusterId: "no spaces" }, message: "clusterId: Does not match pattern" },
      {
        name: "an unknown pull policy",
        values: { image: { pullPolicy: "Sometimes" } },
        message: "image.pullPolicy: image.pullPolicy must be one of",
      },
    ];
    for (const { name, values, message } of cases) {
      it(name, () => {
        const outcome = renderChart(values);
        expect(outcome.ok, `${name}: rendered although it should not`).to.equal(false);
        expect(outcome.ok ? "" : outcome.error, name).to.contain(message);
      });
    }

    it("an even voter count renders when allowed explicitly", () => {
      const chart = renderChartOrThrow({ controllers: { replicas: 4, allowEvenReplicas: true } });
      expect(properties(configData(chart)["controller.properties"] as string).get("controller.quorum.voters")).to.equal(expectedVoters(4));
    });
  });
});

// Renders deploy/helm/castle with castle-helm-render (deploy/render/main.go): Helm 3.12's
// template semantics (text/template, sprig 3.2.3, Helm's own functions, values.schema.json via
// gojsonschema 1.2.0) built from Debian's Go packages, since this machine reaches no Go module
// proxy and Debian ships no helm. The binary is built once per test process into .cache/ (git-
// ignored), and again only when main.go is newer than it.

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const CHART_DIR = resolve("deploy/helm/castle");
const SOURCE_DIR = resolve("deploy/render");
const CACHE_DIR = resolve(".cache/helm-render");
const BINARY = join(CACHE_DIR, "castle-helm-render");
const DEBIAN_GOPATH = "/usr/share/gocode";
/** Debian's source packages the renderer imports, by the directory each installs. */
const DEBIAN_SOURCES: Readonly<Record<string, string>> = {
  "golang-github-masterminds-sprig-dev": "github.com/Masterminds/sprig",
  "golang-github-xeipuuv-gojsonschema-dev": "github.com/xeipuuv/gojsonschema",
  "golang-k8s-sigs-yaml-dev": "sigs.k8s.io/yaml",
  "golang-github-burntsushi-toml-dev": "github.com/BurntSushi/toml",
};
/**
 * GOPATH mode has no major-version suffixes; Debian installs these /v3 modules without one, so
 * an overlay GOPATH links the suffixed import paths to them.
 */
const VERSIONED_IMPORTS: Readonly<Record<string, string>> = {
  "github.com/Masterminds/sprig/v3": "github.com/Masterminds/sprig",
  "github.com/Masterminds/semver/v3": "github.com/Masterminds/semver",
};
const BUILD_TIMEOUT_MS = 300_000;
const RENDER_TIMEOUT_MS = 30_000;

/** Why the renderer cannot be built here, or undefined when it can. */
export function rendererUnavailable(): string | undefined {
  if (spawnSync("go", ["version"]).status !== 0) return "go is not installed (apt-get install golang-go)";
  const missing = Object.entries(DEBIAN_SOURCES).filter(([, dir]) => !existsSync(join(DEBIAN_GOPATH, "src", dir)));
  if (missing.length > 0) return `Debian's Go sources are missing (apt-get install ${missing.map(([pkg]) => pkg).join(" ")})`;
  return undefined;
}

let built: string | undefined;

/** The renderer's path, built if missing or older than its source. Throws with go's output on failure. */
export function buildRenderer(): string {
  if (built !== undefined) return built;
  const source = join(SOURCE_DIR, "main.go");
  if (!existsSync(BINARY) || statSync(BINARY).mtimeMs < statSync(source).mtimeMs) {
    const gopath = join(CACHE_DIR, "gopath");
    for (const [versioned, plain] of Object.entries(VERSIONED_IMPORTS)) {
      const link = join(gopath, "src", versioned);
      if (existsSync(link)) continue;
      mkdirSync(join(link, ".."), { recursive: true });
      symlinkSync(join(DEBIAN_GOPATH, "src", plain), link);
    }
    const env = {
      ...process.env,
      GO111MODULE: "off",
      GOPATH: `${gopath}:${DEBIAN_GOPATH}`,
      GOCACHE: join(CACHE_DIR, "go-build"),
      GOFLAGS: "",
      GOPROXY: "off",
    };
    const result = spawnSync("go", ["build", "-o", BINARY, "."], { cwd: SOURCE_DIR, env, encoding: "utf8", timeout: BUILD_TIMEOUT_MS });
    if (result.status !== 0) {
      throw new Error(`go build of ${SOURCE_DIR} failed (${result.error?.message ?? `exit ${result.status}`}):\n${result.stderr}`);
    }
  }
  built = BINARY;
  return built;
}

export interface RenderedManifest {
  /** The template it came from, e.g. castle/templates/statefulset.yaml. */
  readonly source: string;
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly yaml: string;
  readonly object: K8sObject;
}

/** A rendered Kubernetes object as plain JSON. */
export type K8sObject = { [key: string]: unknown };

export interface RenderedChart {
  /** In Helm's install order. */
  readonly manifests: readonly RenderedManifest[];
  readonly notes: string;
}

export interface RenderOptions {
  readonly release?: string;
  readonly namespace?: string;
  /** .Release.IsUpgrade, as `helm upgrade` renders. */
  readonly isUpgrade?: boolean;
  /** Objects the chart's lookup calls find, as if they existed in the cluster. */
  readonly lookup?: readonly K8sObject[];
}

/** The outcome of one render: the chart, or the renderer's error text (as helm would print it). */
export type RenderOutcome = { ok: true; chart: RenderedChart } | { ok: false; error: string };

/** Renders the chart with `values` laid over values.yaml (like `helm template -f values.json`). */
export function renderChart(values: object, options: RenderOptions = {}): RenderOutcome {
  const binary = buildRenderer();
  const dir = mkdtempSync(join(tmpdir(), "castle-helm-"));
  try {
    const valuesFile = join(dir, "values.json");
    writeFileSync(valuesFile, JSON.stringify(values));
    const args = [
      "--chart",
      CHART_DIR,
      "--values",
      valuesFile,
      "--release",
      options.release ?? "demo",
      "--namespace",
      options.namespace ?? "data",
    ];
    if (options.isUpgrade) args.push("--is-upgrade", "--revision", "2");
    if (options.lookup !== undefined) {
      const lookupFile = join(dir, "lookup.json");
      writeFileSync(lookupFile, JSON.stringify(options.lookup));
      args.push("--lookup", lookupFile);
    }
    const result = spawnSync(binary, args, { encoding: "utf8", timeout: RENDER_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 });
    if (result.status !== 0) return { ok: false, error: (result.stderr || result.error?.message || `exit ${result.status}`).trim() };
    return { ok: true, chart: JSON.parse(result.stdout) as RenderedChart };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** renderChart that throws on a render error. */
export function renderChartOrThrow(values: object, options: RenderOptions = {}): RenderedChart {
  const outcome = renderChart(values, options);
  if (!outcome.ok) throw new Error(`the chart did not render: ${outcome.error}`);
  return outcome.chart;
}

#!/usr/bin/env node
// Writes docs/configuration.md from the config tables in @castle/broker (node) and
// @castle/metadata (topic) (run after a build).
// test/config-docs.test.ts fails when the committed file is stale.
import { writeFileSync } from "node:fs";
import { brokerConfigDefs, envNameFor } from "@castle/broker";
import { topicConfigDefs } from "@castle/metadata";

export function renderConfigDocs() {
  const show = (v) => (v === Number.MAX_SAFE_INTEGER ? "9007199254740991 (never)" : v === "" ? "(empty)" : String(v));
  const range = (d) =>
    d.values ? d.values.join(" \\| ") : d.min !== undefined || d.max !== undefined ? `${d.min ?? ""}..${d.max ?? ""}` : "";
  const lines = [
    "# Configuration",
    "",
    "Generated from `packages/broker/src/config/broker-config.ts` and `packages/metadata/src/config/topic-config.ts` by `node scripts/gen-config-docs.mjs`; do not edit by hand.",
    "",
    "## Node (`castle server start`)",
    "",
    "Precedence, highest first: flags (`--data-dir`, `--node-id`, `--host`, `--client-port`, `--http-port`,",
    "or `--override key=value` for any key), environment variables, the `--config FILE` (`key=value` lines,",
    "`#` comments), then the defaults below. Every problem is reported at start, before anything opens.",
    "",
    "| key | env | default | range | meaning |",
    "| --- | --- | --- | --- | --- |",
    ...brokerConfigDefs.map((d) => `| \`${d.name}\` | \`${envNameFor(d.name)}\` | \`${show(d.defaultValue)}\` | ${range(d)} | ${d.doc} |`),
    "",
    "## Topic (`castle topic create --config k=v`, `castle topic alter`)",
    "",
    "A topic stores only the keys set on it; the rest follow the node's matching `log.*` key.",
    "",
    "| key | node default from | default | range | meaning |",
    "| --- | --- | --- | --- | --- |",
    ...topicConfigDefs.map((d) => {
      const from = d.brokerKey ? brokerConfigDefs.find((b) => b.name === d.brokerKey)?.name : "";
      return `| \`${d.name}\` | ${from ? `\`${from}\`` : ""} | \`${show(d.defaultValue)}\` | ${range(d)} | ${d.doc} |`;
    }),
    "",
  ];
  return lines.join("\n");
}

if (process.argv[1]?.endsWith("gen-config-docs.mjs")) {
  writeFileSync(new URL("../docs/configuration.md", import.meta.url), renderConfigDocs());
  console.log("wrote docs/configuration.md");
}

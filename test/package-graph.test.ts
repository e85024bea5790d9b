// The package graph is the architecture (DESIGN.md, Layout): a package may depend only on
// packages above it in this list, must declare what it imports, and must reference those
// packages in its tsconfig. This test fails on any wrong-way or undeclared import.

import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";

const ORDER = ["common", "protocol", "raft", "storage", "metadata", "broker", "client", "cli", "testkit"];
/** Exceptions to "anything above": the client and CLI reach the cluster only through proto/. */
const FORBIDDEN: Record<string, string[]> = {
  storage: ["raft", "metadata"],
  client: ["raft", "storage", "metadata", "broker"],
  raft: ["storage"],
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === "generated" ? [] : sourceFiles(path);
    return path.endsWith(".ts") ? [path] : [];
  });
}

const packages = readdirSync("packages").filter((name) => ORDER.includes(name));

describe("package graph", () => {
  it("knows every package", () => {
    expect(readdirSync("packages").filter((n) => statSync(join("packages", n)).isDirectory())).to.have.members(packages);
  });

  for (const name of packages) {
    it(`${name} imports only packages allowed above it, and declares them`, () => {
      const manifest = JSON.parse(readFileSync(join("packages", name, "package.json"), "utf8")) as {
        dependencies?: Record<string, string>;
      };
      const declared = Object.keys(manifest.dependencies ?? {})
        .filter((d) => d.startsWith("@castle/"))
        .map((d) => d.slice(8));
      const tsconfig = JSON.parse(readFileSync(join("packages", name, "tsconfig.json"), "utf8")) as {
        references?: Array<{ path: string }>;
      };
      const referenced = (tsconfig.references ?? []).map((r) => r.path.replace("../", ""));
      const imported = new Set<string>();
      for (const file of sourceFiles(join("packages", name, "src"))) {
        for (const match of readFileSync(file, "utf8").matchAll(/from "@castle\/([a-z]+)"/g)) imported.add(match[1] as string);
      }
      const rank = ORDER.indexOf(name);
      for (const dep of new Set([...declared, ...imported])) {
        expect(ORDER.indexOf(dep), `${name} -> ${dep} points up the list`).to.be.lessThan(rank);
        expect(FORBIDDEN[name] ?? [], `${name} must not depend on ${dep}`).not.to.include(dep);
      }
      for (const dep of imported) {
        expect(declared, `${name} imports @castle/${dep} without declaring it`).to.include(dep);
        expect(referenced, `${name} imports @castle/${dep} without a tsconfig reference`).to.include(dep);
      }
    });
  }
});

import { readFileSync } from "node:fs";
import { expect } from "chai";
// @ts-expect-error: a plain .mjs script without types
import { renderConfigDocs } from "../scripts/gen-config-docs.mjs";

describe("docs/configuration.md", () => {
  it("matches the config tables (run node scripts/gen-config-docs.mjs after changing a config)", () => {
    expect(readFileSync("docs/configuration.md", "utf8")).to.equal((renderConfigDocs as () => string)());
  });
});

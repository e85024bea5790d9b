// The scripts a user runs by hand (npm run bench:*, test:chaos, sim) answer --help with their
// usage and a mistyped option with its cause and exit code 2, not a stack trace. Nothing here
// starts a node: both answers come before a script does any work.

import { spawnSync } from "node:child_process";
import { expect } from "chai";

const SCRIPTS: readonly { path: string; usageStart: RegExp }[] = [
  { path: "scripts/bench/produce.mjs", usageStart: /^npm run bench:produce / },
  { path: "scripts/bench/raft.mjs", usageStart: /^npm run bench:raft / },
  { path: "scripts/bench/controller.mjs", usageStart: /^npm run bench:controller / },
  { path: "scripts/bench/replicated.mjs", usageStart: /^npm run bench:replicated / },
  { path: "scripts/bench/consume.mjs", usageStart: /^npm run bench:consume / },
  { path: "scripts/chaos.mjs", usageStart: /^The durability test/ },
  { path: "scripts/sim.mjs", usageStart: /^Deterministic simulation of the Raft core/ },
];

function run(script: string, ...args: string[]) {
  return spawnSync(process.execPath, [script, ...args], { encoding: "utf8", timeout: 30_000 });
}

describe("script arguments (scripts/script-args.mjs)", () => {
  for (const { path, usageStart } of SCRIPTS) {
    it(`${path}: --help prints the usage and exits 0; an unknown option names itself and exits 2`, () => {
      const help = run(path, "--help");
      expect(help.status, help.stderr).to.equal(0);
      expect(help.stdout).to.match(usageStart);
      expect(help.stdout).not.to.match(/^\/\//m);
      const bad = run(path, "--no-such-option");
      expect(bad.status).to.equal(2);
      expect(bad.stderr).to.include("Unknown option '--no-such-option'");
      expect(bad.stderr).to.include("--help");
      expect(bad.stderr).not.to.match(/\n\s+at /);
    });
  }

  it("refuses a value-less string option the same way", () => {
    const bad = run("scripts/bench/replicated.mjs", "--seconds");
    expect(bad.status).to.equal(2);
    expect(bad.stderr).to.match(/--seconds/);
  });
});

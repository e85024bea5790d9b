// The seeded chaos runs CI does on every build: a batch of fresh seeds over 3- and 5-voter
// clusters, and every seed that ever failed (failing-seeds.json, never shrunk). A failure
// prints the seed, `npm run sim -- --seed N` to replay it and the trace tail.

import { readFileSync } from "node:fs";
import { runSeed } from "@castle/testkit";
import { expect } from "chai";

/** Seeds per cluster size, and steps per seed: sized to finish in well under 3 minutes on 2 cores. */
const SEEDS_PER_SIZE = Number(process.env.SIM_SEEDS ?? 4000);
const FAULT_STEPS = Number(process.env.SIM_STEPS ?? 3000);

interface FailingSeed {
  readonly seed: number;
  readonly voters?: number;
  readonly steps?: number;
  readonly note?: string;
}

const failingSeeds = JSON.parse(readFileSync(new URL("./failing-seeds.json", import.meta.url), "utf8")) as FailingSeed[];

describe("raft simulation: seeds that once failed", () => {
  it("failing-seeds.json is a list of {seed, voters?, steps?, note?}", () => {
    expect(failingSeeds).to.be.an("array").that.is.not.empty;
    for (const [i, entry] of failingSeeds.entries()) {
      expect(Object.keys(entry), `entry ${i}: known keys only`).to.satisfy((keys: string[]) =>
        keys.every((k) => ["seed", "voters", "steps", "note"].includes(k)),
      );
      expect(Number.isSafeInteger(entry.seed) && entry.seed >= 0, `entry ${i}: seed is a non-negative integer`).to.equal(true);
      if (entry.voters !== undefined) expect([3, 5], `entry ${i}: voters`).to.include(entry.voters);
      if (entry.steps !== undefined) expect(Number.isSafeInteger(entry.steps) && entry.steps > 0, `entry ${i}: steps`).to.equal(true);
    }
  });
  for (const entry of failingSeeds) {
    it(`seed ${entry.seed}${entry.voters === undefined ? "" : ` (${entry.voters} voters)`}${entry.note === undefined ? "" : `: ${entry.note}`}`, () => {
      runSeed({
        seed: entry.seed,
        ...(entry.voters === undefined ? {} : { voters: entry.voters }),
        ...(entry.steps === undefined ? {} : { faultSteps: entry.steps }),
      });
    });
  }
});

describe("raft simulation: CI seed batch", function () {
  this.timeout(600_000);
  for (const voters of [3, 5]) {
    it(`${SEEDS_PER_SIZE} seeds, ${voters} voters, ${FAULT_STEPS} fault steps each: safe throughout, converge after healing`, () => {
      let committed = 0;
      let snapshots = 0;
      let confChanges = 0;
      for (let seed = 1; seed <= SEEDS_PER_SIZE; seed++) {
        const result = runSeed({
          seed,
          voters,
          faultSteps: FAULT_STEPS,
        });
        committed += result.committedEntries;
        snapshots += result.snapshotsRestored;
        confChanges += result.confChangesApplied;
      }
      // The batch must exercise the paths it claims to (not pass by doing nothing).
      expect(committed, "entries committed across the batch").to.be.greaterThan(SEEDS_PER_SIZE * 5);
      expect(snapshots, "snapshot installs across the batch").to.be.greaterThan(0);
      expect(confChanges, "conf changes applied across the batch").to.be.greaterThan(0);
    });
  }
});

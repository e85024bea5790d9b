// A small seeded fault run: random message loss, partitions and restarts, then healing.
// Checks State Machine Safety (applied sequences are prefixes of one another), Election
// Safety (one leader per term) and that the healed cluster converges.

import { SeededRandom } from "@castle/common";
import { expect } from "chai";
import { bytes, Cluster, text } from "./cluster-harness.js";

const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];
const FAULT_TICKS = 300;
const HEAL_TICKS = 200;

describe("raft core: seeded faults", () => {
  for (const seed of SEEDS) {
    it(`keeps safety and converges (seed ${seed})`, () => {
      const random = new SeededRandom(seed);
      const ids = [1, 2, 3, 4, 5];
      const cluster = new Cluster({ voters: ids, seed, config: { snapshotChunkBytes: 16 } });
      const leaderOfTerm = new Map<number, number>();
      let proposed = 0;
      const check = (): void => {
        for (const id of ids) {
          const status = cluster.core(id).status();
          if (status.role !== "leader") continue;
          const known = leaderOfTerm.get(status.term);
          expect(known === undefined || known === id, `two leaders in term ${status.term} (seed ${seed})`).to.equal(true);
          leaderOfTerm.set(status.term, id);
        }
      };
      cluster.transform = (m) => (random.next() < 0.1 ? undefined : m);
      for (let t = 0; t < FAULT_TICKS; t++) {
        const roll = random.next();
        if (roll < 0.02) cluster.isolate(1 + random.int(5));
        else if (roll < 0.04) cluster.heal();
        else if (roll < 0.05) cluster.restart(1 + random.int(5));
        else if (roll < 0.06) {
          const id = 1 + random.int(5);
          const node = cluster.node(id);
          if (node.appliedIndex > node.storage.firstIndex()) cluster.compact(id, bytes(`snap-${id}-${node.appliedIndex}`));
        }
        for (const id of cluster.leaders()) if (cluster.core(id).propose(bytes(`p${proposed}`)).ok) proposed++;
        cluster.tick();
        check();
      }
      cluster.transform = undefined;
      cluster.heal();
      for (let t = 0; t < HEAL_TICKS; t++) {
        cluster.tick();
        check();
      }
      const [leader] = cluster.leaders();
      expect(leader, `a leader after healing (seed ${seed})`).to.not.equal(undefined);
      const commit = cluster.core(leader ?? 0).status().commit;
      for (const id of ids) expect(cluster.node(id).appliedIndex, `node ${id} applied all (seed ${seed})`).to.equal(commit);
      // Applied values since each node's last snapshot/restart must agree index by index.
      const byIndex = new Map<number, string>();
      for (const id of ids) {
        for (const entry of cluster.node(id).applied) {
          const seen = byIndex.get(entry.index);
          expect(seen === undefined || seen === text(entry), `entry ${entry.index} differs on ${id} (seed ${seed})`).to.equal(true);
          byIndex.set(entry.index, text(entry));
        }
      }
    });
  }
});

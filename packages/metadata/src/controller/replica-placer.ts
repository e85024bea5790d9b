// Replica placement for new partitions: spread leaders and replicas evenly over the unfenced
// brokers, and each partition's replicas over distinct racks as far as the racks allow.
//
// Greedy and load-aware, rather than Kafka's random start index plus fixed shifts: for every
// partition the preferred leader is the broker that prefers-leads the fewest partitions, then
// each follower is the broker with the fewest replicas among those on a rack this partition does
// not use yet. Counts include the cluster's existing partitions, so placement also evens out an
// unbalanced cluster. Ties are broken by broker order rotated by `startIndex + partition`, which
// makes the result deterministic for a given start index and rotates leaders among equals.
// A broker without a rack counts as a rack of its own, so with no racks declared this is plain
// even placement.

import { invariant } from "@castle/common";

export interface PlacementBroker {
  readonly brokerId: number;
  readonly rack: string | null;
}

/** Per-broker counts the placer reads and updates: preferred leaderships and replicas. */
export interface PlacementLoad {
  readonly leaders: Map<number, number>;
  readonly replicas: Map<number, number>;
}

export function emptyPlacementLoad(): PlacementLoad {
  return { leaders: new Map(), replicas: new Map() };
}

/**
 * Replica lists (preferred leader first) for `partitionCount` new partitions. `brokers` are the
 * eligible (unfenced) brokers; `load` is updated with the new assignments so consecutive calls
 * (several topics in one request) keep spreading.
 */
export function placeReplicas(
  brokers: readonly PlacementBroker[],
  load: PlacementLoad,
  partitionCount: number,
  replicationFactor: number,
  startIndex: number,
): number[][] {
  invariant(replicationFactor >= 1 && replicationFactor <= brokers.length, "placement needs 1 <= replication factor <= brokers");
  const sorted = [...brokers].sort((a, b) => a.brokerId - b.brokerId);
  const count = sorted.length;
  const leadersOf = (id: number): number => load.leaders.get(id) ?? 0;
  const replicasOf = (id: number): number => load.replicas.get(id) ?? 0;
  const rackOf = (b: PlacementBroker): string => b.rack ?? `\u0000no-rack-${b.brokerId}`;
  const out: number[][] = [];
  for (let p = 0; p < partitionCount; p++) {
    const rotation = (((startIndex + p) % count) + count) % count;
    const order = (position: number): number => (position - rotation + count) % count;
    let leaderPos = 0;
    for (let i = 1; i < count; i++) {
      const a = sorted[i] as PlacementBroker;
      const best = sorted[leaderPos] as PlacementBroker;
      const byLeaders = leadersOf(a.brokerId) - leadersOf(best.brokerId);
      const byReplicas = replicasOf(a.brokerId) - replicasOf(best.brokerId);
      if (byLeaders < 0 || (byLeaders === 0 && (byReplicas < 0 || (byReplicas === 0 && order(i) < order(leaderPos))))) leaderPos = i;
    }
    const chosen = [leaderPos];
    const racksUsed = new Set([rackOf(sorted[leaderPos] as PlacementBroker)]);
    while (chosen.length < replicationFactor) {
      let pick = -1;
      let pickNewRack = false;
      for (let i = 0; i < count; i++) {
        if (chosen.includes(i)) continue;
        const candidate = sorted[i] as PlacementBroker;
        const newRack = !racksUsed.has(rackOf(candidate));
        if (pick === -1) {
          pick = i;
          pickNewRack = newRack;
          continue;
        }
        const best = sorted[pick] as PlacementBroker;
        const byReplicas = replicasOf(candidate.brokerId) - replicasOf(best.brokerId);
        const better =
          (newRack && !pickNewRack) || (newRack === pickNewRack && (byReplicas < 0 || (byReplicas === 0 && order(i) < order(pick))));
        if (better) {
          pick = i;
          pickNewRack = newRack;
        }
      }
      chosen.push(pick);
      racksUsed.add(rackOf(sorted[pick] as PlacementBroker));
    }
    const replicas = chosen.map((i) => (sorted[i] as PlacementBroker).brokerId);
    const leader = replicas[0] as number;
    load.leaders.set(leader, leadersOf(leader) + 1);
    for (const id of replicas) load.replicas.set(id, replicasOf(id) + 1);
    out.push(replicas);
  }
  return out;
}

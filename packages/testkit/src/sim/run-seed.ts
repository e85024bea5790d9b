// One seeded chaos run (TigerBeetle's VOPR, etcd's randomized tests): the seed picks the
// cluster shape, the Raft config, how bad the network is and how often nodes snapshot; then a
// fault phase of `faultSteps` steps mixes client proposals, reads, conf changes, leadership
// transfers, partitions (symmetric and one-way), crashes (some in the middle of a Ready),
// restarts and pauses. The healing phase then removes every fault and must converge within
// `healMs`: a stable leader, and a fresh proposal applied by every member. Safety checkers run
// after every step throughout; any failure is a SimulationFailure that names the seed.

import { SeededRandom } from "@castle/common";
import { type ConfChange, decodeConfChange, EntryType, type RaftNodeId } from "@castle/raft";
import { type NetworkFaults, RELIABLE_NETWORK } from "./sim-network.js";
import type { SimNode, SimRaftConfig, SnapshotPolicy } from "./sim-node.js";
import { DEFAULT_RAFT, Simulation } from "./simulation.js";

export interface SeedRunOptions {
  readonly seed: number;
  /** 3 or 5; default: chosen by the seed. */
  readonly voters?: number;
  /** Steps (events) in the fault phase. */
  readonly faultSteps?: number;
  /** Liveness bound: simulated ms after healing by which a proposal must be applied everywhere. */
  readonly healMs?: number;
  readonly traceSink?: (line: string) => void;
  /** The command a failure prints (defaults to `npm run sim -- --seed N`). */
  readonly reproduce?: string;
}

export interface SeedRunResult {
  readonly seed: number;
  readonly voters: number;
  readonly observers: number;
  readonly steps: number;
  readonly simulatedMs: number;
  /** Simulated ms from healing until the final proposal was applied by every member. */
  readonly convergedMs: number;
  readonly committedEntries: number;
  readonly proposalsAccepted: number;
  readonly confChangesApplied: number;
  readonly crashes: number;
  readonly snapshotsRestored: number;
  readonly readsChecked: number;
  readonly messagesSent: number;
  readonly leaderTerms: number;
}

export const DEFAULT_FAULT_STEPS = 3000;
export const DEFAULT_HEAL_MS = 10_000;

/** How one seed shapes its run; drawn first, from a stream of its own. */
interface SeedShape {
  readonly voters: number;
  readonly observers: number;
  readonly raft: SimRaftConfig;
  readonly network: NetworkFaults;
  readonly snapshots: SnapshotPolicy;
  readonly clockSkew: number;
}

function shapeOf(seed: number, voters: number | undefined): SeedShape {
  const r = new SeededRandom((seed ^ 0x5bd1e995) >>> 0);
  const pick = <T>(values: readonly T[]): T => values[r.int(values.length)]!;
  return {
    voters: voters ?? pick([3, 5]),
    observers: r.int(2),
    raft: {
      ...DEFAULT_RAFT,
      heartbeatTicks: 1 + r.int(3),
      preVote: r.next() < 0.75,
      checkQuorum: r.next() < 0.6,
      appendBytesMax: pick([16, 64, 1024]),
      inflightAppendsMax: 1 + r.int(4),
      snapshotChunkBytes: pick([16, 100, 4096]),
    },
    network: {
      dropRate: pick([0, 0.01, 0.05, 0.15]),
      duplicateRate: pick([0, 0.02, 0.1]),
      delayMinMs: 1,
      delayMaxMs: pick([2, 5, 15]),
      longDelayRate: pick([0, 0, 0.02]),
      longDelayMaxMs: 200,
    },
    snapshots: { everyEntries: pick([0, 3, 10, 30]), keepEntries: r.int(4) },
    clockSkew: pick([0, 0.1, 0.3]),
  };
}

export function runSeed(options: SeedRunOptions): SeedRunResult {
  const shape = shapeOf(options.seed, options.voters);
  const sim = new Simulation({
    seed: options.seed,
    voters: shape.voters,
    observers: shape.observers,
    raft: shape.raft,
    network: shape.network,
    snapshots: shape.snapshots,
    clockSkew: shape.clockSkew,
    ...(options.traceSink === undefined ? {} : { traceSink: options.traceSink }),
    reproduce:
      options.reproduce ??
      `npm run sim -- --seed ${options.seed}${options.voters === undefined ? "" : ` --voters ${options.voters}`}${options.faultSteps === undefined ? "" : ` --steps ${options.faultSteps}`}`,
  });
  sim.trace.event(0, 0, `seed ${options.seed}: ${JSON.stringify({ ...shape, raft: { ...shape.raft } })}`);
  const chaos = new Chaos(sim);
  chaos.start();
  const faultSteps = options.faultSteps ?? DEFAULT_FAULT_STEPS;
  sim.runUntil(() => sim.steps >= faultSteps, Number.MAX_SAFE_INTEGER);

  // Healing: no more faults; every node that is not retired comes back.
  chaos.stop();
  const healedAt = sim.nowMs;
  sim.heal();
  sim.setNetwork(RELIABLE_NETWORK);
  for (const node of sim.upNodes()) node.pausedUntilMs = 0;
  for (const id of sim.ids) if (sim.node(id).state === "down") sim.restart(id);
  sim.trace.event(sim.nowMs, 0, "healing: faults off, all nodes up");
  const deadline = healedAt + (options.healMs ?? DEFAULT_HEAL_MS);

  const finalValue = `final-${options.seed}`;
  let proposedAt = -1;
  const converged = sim.runUntil(() => {
    const leader = sim.stableLeader();
    if (leader === undefined) return false;
    if (proposedAt < 0 || (sim.nowMs - proposedAt > 500 && !leader.stateMachine.values.includes(finalValue))) {
      // Re-propose until one copy sticks (a leader change may lose an uncommitted one); duplicates are harmless.
      const result = sim.propose(finalValue, leader.id);
      if (result.ok) proposedAt = sim.nowMs;
      return false;
    }
    const members = [...leader.confState.voters, ...leader.confState.observers];
    return members.every((id) => sim.nodes.get(id)?.stateMachine.values.includes(finalValue) === true);
  }, deadline - sim.nowMs);
  if (!converged) {
    const leader = sim.stableLeader() ?? sim.leader();
    const who = sim
      .upNodes()
      .map(
        (n) =>
          `n${n.id}:${n.role}@${n.term} commit=${n.commit} applied=${n.stateMachine.index} conf=${n.confState.voters.join(",")}/${n.confState.observers.join(",")}`,
      )
      .join(" ");
    const progress =
      leader === undefined
        ? ""
        : ` leader progress: ${leader
            .status()
            .progress.map((p) => `n${p.id}:${p.state} match=${p.matchIndex} next=${p.nextIndex} inflight=${p.inflight}`)
            .join(" ")}`;
    sim.fail(
      `liveness: ${options.healMs ?? DEFAULT_HEAL_MS}ms after healing, ${leader === undefined ? "no leader" : `leader n${leader.id} but ${finalValue} not applied by all members`} [${who}]${progress}`,
    );
  }
  sim.fullCheck();
  let snapshotsRestored = 0;
  for (const id of sim.ids) snapshotsRestored += sim.node(id).snapshotsRestored;
  const crashes = chaos.crashes;
  return {
    seed: options.seed,
    voters: shape.voters,
    observers: shape.observers,
    steps: sim.steps,
    simulatedMs: sim.nowMs,
    convergedMs: sim.nowMs - healedAt,
    committedEntries: sim.committed.size,
    proposalsAccepted: chaos.proposalsAccepted,
    confChangesApplied: chaos.confChangesCommitted,
    crashes,
    snapshotsRestored,
    readsChecked: sim.checker.readsChecked,
    messagesSent: sim.network.counters.sent,
    leaderTerms: chaos.leaderTermsSeen(),
  };
}

/** Members allowed at most (ids are never reused, so this bounds additions too). */
const MEMBERS_MAX = 8;
const VOTERS_MIN = 3;
const VOTERS_MAX = 7;

/** The fault-phase driver: a chain of random actions through the simulation's own queue. */
class Chaos {
  proposalsAccepted = 0;
  confChangesCommitted = 0;
  crashes = 0;
  private running = false;
  private leaderGuess: RaftNodeId = 0;
  private proposalSequence = 0;
  private nextNodeId: RaftNodeId;
  private readonly removed = new Set<RaftNodeId>();
  private readonly confChangeIndexes = new Set<number>();
  private readonly terms = new Set<number>();
  private readonly r: SeededRandom;

  constructor(private readonly sim: Simulation) {
    this.r = sim.random;
    this.nextNodeId = Math.max(...sim.ids) + 1;
    sim.onApply = (node, entry) => {
      if (entry.type !== EntryType.ConfChange) return;
      if (!this.confChangeIndexes.has(entry.index)) {
        this.confChangeIndexes.add(entry.index);
        this.confChangesCommitted++;
      }
      const change = decodeConfChange(entry.data);
      sim.trace.event(sim.nowMs, node.id, `applied conf change ${entry.index}: ${JSON.stringify(change)}`);
      if (change.type === "removeNode" && !this.removed.has(change.nodeId)) {
        // An operator decommissions a removed server some time after its removal commits.
        this.removed.add(change.nodeId);
        sim.at(this.r.int(200), () => {
          if (sim.nodes.get(change.nodeId)?.state !== "retired") sim.retire(change.nodeId);
        });
      }
    };
  }

  start(): void {
    this.running = true;
    this.scheduleNext();
  }

  stop(): void {
    this.running = false;
    for (const id of this.sim.ids) this.sim.node(id).crashAfterMessages = undefined;
  }

  leaderTermsSeen(): number {
    return this.terms.size;
  }

  private scheduleNext(): void {
    this.sim.at(1 + this.r.int(30), () => {
      if (!this.running) return;
      this.act();
      this.scheduleNext();
    });
  }

  private act(): void {
    const leader = this.sim.leader();
    if (leader !== undefined) this.terms.add(leader.term);
    const roll = this.r.int(100);
    if (roll < 45) this.propose();
    else if (roll < 50) this.read();
    else if (roll < 55) this.partition();
    else if (roll < 61) this.sim.heal();
    else if (roll < 65) this.crash();
    else if (roll < 72) this.restart();
    else if (roll < 75) this.pause();
    else if (roll < 80) this.confChange();
    else if (roll < 83) this.transfer();
    else if (roll < 85) this.campaign();
    else this.propose();
  }

  private randomUp(): SimNode | undefined {
    const up = this.sim.upNodes();
    return up.length === 0 ? undefined : up[this.r.int(up.length)];
  }

  /** The client's target: whom it last heard is leader, else anyone up. */
  private target(): SimNode | undefined {
    const guess = this.sim.nodes.get(this.leaderGuess);
    if (guess?.up === true && this.r.next() < 0.9) return guess;
    return this.randomUp();
  }

  private propose(): void {
    const node = this.target();
    if (node === undefined) return;
    const value = `v${++this.proposalSequence}`;
    const result = this.sim.propose(value, node.id);
    if (result.ok) {
      this.proposalsAccepted++;
      this.leaderGuess = node.id;
    } else {
      this.leaderGuess = result.leaderId;
    }
  }

  private read(): void {
    const node = this.target();
    if (node === undefined) return;
    const { result } = this.sim.readIndex(node.id);
    if (!result.ok) this.leaderGuess = result.leaderId;
  }

  private partition(): void {
    const ids = this.sim.ids.filter((id) => this.sim.node(id).state !== "retired");
    const kind = this.r.int(3);
    if (kind === 0) {
      const id = ids[this.r.int(ids.length)]!;
      this.sim.isolate(id);
    } else if (kind === 1) {
      const a: RaftNodeId[] = [];
      const b: RaftNodeId[] = [];
      for (const id of ids) (this.r.next() < 0.5 ? a : b).push(id);
      this.sim.partition(a, b);
    } else {
      const from = ids[this.r.int(ids.length)]!;
      const to = ids[this.r.int(ids.length)]!;
      if (from !== to) this.sim.block(from, to);
    }
  }

  private crash(): void {
    const node = this.randomUp();
    if (node === undefined) return;
    this.crashes++;
    if (this.r.next() < 0.4) {
      // Crash inside the node's next Ready: after persisting and sending a prefix of its messages.
      node.crashAfterMessages = this.r.int(3);
      this.sim.trace.event(this.sim.nowMs, node.id, `will crash mid-Ready after ${node.crashAfterMessages} messages`);
    } else {
      this.sim.crash(node.id);
    }
  }

  private restart(): void {
    const down = this.sim.ids.filter((id) => this.sim.node(id).state === "down");
    if (down.length === 0) return;
    this.sim.restart(down[this.r.int(down.length)]!);
  }

  private pause(): void {
    const node = this.randomUp();
    if (node !== undefined) this.sim.pause(node.id, 20 + this.r.int(300));
  }

  private campaign(): void {
    const node = this.randomUp();
    if (node !== undefined && !node.isObserver && node.isMember) this.sim.campaign(node.id);
  }

  private transfer(): void {
    const leader = this.sim.leader();
    if (leader === undefined) return;
    const voters = leader.confState.voters.filter((id) => id !== leader.id);
    const to = voters[this.r.int(voters.length)];
    if (to !== undefined) this.sim.transferLeadership(to, leader.id);
  }

  private confChange(): void {
    const leader = this.sim.leader();
    if (leader === undefined) return;
    const { voters, observers } = leader.confState;
    const options: Array<() => ConfChange> = [];
    const members = voters.length + observers.length;
    if (members < MEMBERS_MAX) options.push(() => ({ type: "addObserver", nodeId: this.nextNodeId }));
    if (members < MEMBERS_MAX && voters.length < VOTERS_MAX) options.push(() => ({ type: "addVoter", nodeId: this.nextNodeId }));
    if (observers.length > 0 && voters.length < VOTERS_MAX)
      options.push(() => ({ type: "addVoter", nodeId: observers[this.r.int(observers.length)]! }));
    if (voters.length > VOTERS_MIN) options.push(() => ({ type: "removeNode", nodeId: voters[this.r.int(voters.length)]! }));
    if (observers.length > 0) options.push(() => ({ type: "removeNode", nodeId: observers[this.r.int(observers.length)]! }));
    const make = options[this.r.int(options.length)];
    if (make === undefined) return;
    const change = make();
    const fresh = change.nodeId === this.nextNodeId;
    if (fresh) {
      this.nextNodeId++;
      this.sim.addNode(change.nodeId);
    }
    const result = this.sim.proposeConfChange(change, leader.id);
    if (!result.ok && fresh) this.sim.retire(change.nodeId);
  }
}

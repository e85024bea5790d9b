// Raft nodes as real processes (packages/testkit/src/raft): three voters on loopback, a client
// loop proposing unique values throughout, kill -9 of the leader, a restart of the killed node,
// then a restart of every node. At the end every node has applied the same sequence, holding
// each acknowledged value exactly once and in acknowledgement order, and nothing never proposed.
// Each step is one `it`; every wait is bounded.

import { type RaftProcessCluster, spawnRaftCluster, TempDir, waitUntil } from "@castle/testkit";
import { expect } from "chai";

const VOTERS = [1, 2, 3] as const;
/** Upper bound of the client loop, whatever happens. */
const VALUES_MAX = 50_000;
const BACKOFF_MS_MIN = 5;
const BACKOFF_MS_MAX = 200;
const STEP_ACKS = 150;
const STEP_TIMEOUT_MS = 15_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Proposes `v-0`, `v-1`, ... one at a time. NOT_LEADER means the value was not appended, so
 * the same value goes to the named leader (or the next node) after a back-off. Any other
 * failure leaves the outcome unknown: the value is recorded as uncertain and never sent again.
 */
class ProposingClient {
  readonly acked: string[] = [];
  readonly uncertain: string[] = [];
  readonly proposed = new Set<string>();
  notLeaderReplies = 0;
  private stopping = false;
  private sequence = 0;
  private target: number = VOTERS[0];
  private loop: Promise<void> | undefined;

  constructor(private readonly cluster: RaftProcessCluster) {}

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop;
  }

  private async run(): Promise<void> {
    let value: string | undefined;
    let backoffMs = BACKOFF_MS_MIN;
    const backOff = async (): Promise<void> => {
      await sleep(backoffMs);
      backoffMs = Math.min(backoffMs * 2, BACKOFF_MS_MAX);
    };
    while (!this.stopping && this.sequence < VALUES_MAX) {
      if (!this.cluster.node(this.target)) {
        this.target = this.nextRunning();
        if (!this.cluster.node(this.target)) await backOff();
        continue;
      }
      value ??= `v-${this.sequence++}`;
      this.proposed.add(value);
      const reply = await this.cluster.propose(this.target, value);
      if (reply.ok) {
        this.acked.push(value);
        value = undefined;
        backoffMs = BACKOFF_MS_MIN;
        continue;
      }
      if (reply.code === "NOT_LEADER") {
        this.notLeaderReplies++;
        this.target = reply.leaderId !== 0 ? reply.leaderId : this.nextRunning();
      } else {
        this.uncertain.push(value);
        value = undefined;
        this.target = this.nextRunning();
      }
      await backOff();
    }
  }

  private nextRunning(): number {
    const running = this.cluster.runningIds();
    return running.find((id) => id > this.target) ?? running[0] ?? VOTERS[0];
  }
}

describe("Raft nodes as real processes (3 voters, kill -9, restarts)", function () {
  this.timeout(STEP_TIMEOUT_MS * 2);
  let dir: TempDir;
  let cluster: RaftProcessCluster;
  let client: ProposingClient;
  let killed = 0;

  const waitForAcks = (count: number, what: string): Promise<number> =>
    waitUntil(() => client.acked.length >= count && client.acked.length, `${count} acknowledged proposals ${what}`, STEP_TIMEOUT_MS);

  before(async () => {
    dir = new TempDir("castle-raft-process-");
    cluster = await spawnRaftCluster({
      voters: [...VOTERS],
      baseDir: dir.path,
      tickMs: 20,
      electionTicks: 10,
      snapshotEveryEntries: 64,
      requestTimeoutMs: 3_000,
      replyTimeoutMs: 5_000,
      stopTimeoutMs: 5_000,
    });
    client = new ProposingClient(cluster);
  });

  after(async () => {
    await client?.stop();
    await cluster?.stopAll();
    dir?.cleanup();
  });

  it("elects a leader and commits a client's proposals", async () => {
    await cluster.waitForLeader({ timeoutMs: STEP_TIMEOUT_MS });
    client.start();
    await waitForAcks(STEP_ACKS, "before any fault");
  });

  it("elects a different leader in a higher term after kill -9 of the leader; proposals continue", async () => {
    const before = await cluster.waitForLeader({ timeoutMs: STEP_TIMEOUT_MS });
    killed = before.id;
    await cluster.kill9(before.id);
    const after = await cluster.waitForLeader({ exclude: before.id, timeoutMs: STEP_TIMEOUT_MS });
    expect(after.id, "the new leader").to.not.equal(before.id);
    expect(after.term, "the new leader's term").to.be.greaterThan(before.term);
    await waitForAcks(client.acked.length + STEP_ACKS, "after the new leader was elected");
  });

  it("restarts the killed node on its data dir and port; it rejoins", async () => {
    const restarted = await cluster.restart(killed);
    expect(`127.0.0.1:${restarted.port}`, "same address").to.equal(cluster.peers[killed]);
    await waitForAcks(client.acked.length + STEP_ACKS, "after the killed node restarted");
    await cluster.waitForLeader({ timeoutMs: STEP_TIMEOUT_MS });
  });

  it("survives a restart of every node (stop all, start all)", async () => {
    await cluster.restartAll();
    expect(cluster.runningIds(), "running after the restart").to.deep.equal([...VOTERS]);
    await cluster.waitForLeader({ timeoutMs: STEP_TIMEOUT_MS });
    await waitForAcks(client.acked.length + STEP_ACKS, "after every node restarted");
  });

  it("ends with identical applied sequences: every acknowledged value once, in order, nothing unproposed", async () => {
    await client.stop();
    const leader = await cluster.waitForLeader({ timeoutMs: STEP_TIMEOUT_MS });
    const leaderStatus = await cluster.status(leader.id);
    if (!leaderStatus.ok) throw new Error(`leader status: ${leaderStatus.message}`);
    const commitIndex = leaderStatus.status.commitIndex;
    await waitUntil(
      async () => {
        const replies = await Promise.all(VOTERS.map((id) => cluster.status(id)));
        const hashes = new Set(replies.map((r) => (r.ok && r.status.appliedIndex >= commitIndex ? r.applied.hash : "behind")));
        return hashes.size === 1 && !hashes.has("behind");
      },
      `every node to apply up to ${commitIndex} with the same result`,
      STEP_TIMEOUT_MS,
    );

    const sequences = await Promise.all(
      VOTERS.map(async (id) => {
        const reply = await cluster.status(id, { withItems: true });
        if (!reply.ok) throw new Error(`node ${id} status: ${reply.message}`);
        return reply.applied.items ?? [];
      }),
    );
    const [first = [], ...rest] = sequences;
    for (const [i, sequence] of rest.entries()) expect(sequence, `node ${VOTERS[i + 1]} vs node ${VOTERS[0]}`).to.deep.equal(first);

    expect(new Set(first).size, "no value applied twice").to.equal(first.length);
    const neverProposed = first.filter((value) => !client.proposed.has(value));
    expect(neverProposed, "values applied but never proposed").to.deep.equal([]);
    const ackedSet = new Set(client.acked);
    const ackedAsApplied = first.filter((value) => ackedSet.has(value));
    const appliedSet = new Set(first);
    const missing = client.acked.filter((value) => !appliedSet.has(value));
    expect(missing, "acknowledged values missing").to.deep.equal([]);
    expect(ackedAsApplied, "acknowledged values, in acknowledgement order").to.deep.equal(client.acked);
    expect(first.length - client.acked.length, "applied beyond the acknowledged: only uncertain ones").to.be.at.most(
      client.uncertain.length,
    );
    expect(client.acked.length, "acknowledged in all").to.be.at.least(4 * STEP_ACKS);
  });
});

import { loadCastleProto, type RaftClient, type WireRaftMessageInput } from "@castle/protocol";
import * as grpc from "@grpc/grpc-js";
import { expect } from "chai";
import { EntryType, type Message } from "../../src/core/types.js";
import { GrpcRaftTransport } from "../../src/transport/grpc-raft-transport.js";
import { messageToWire } from "../../src/transport/raft-wire-codec.js";

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** One of every message type, from 1 to 2. */
const everyMessage: Message[] = [
  { type: "vote", from: 1, to: 2, term: 5, preVote: true, lastLogIndex: 10, lastLogTerm: 4, transfer: false },
  { type: "vote", from: 1, to: 2, term: 6, preVote: false, lastLogIndex: 10, lastLogTerm: 4, transfer: true },
  { type: "vote-response", from: 1, to: 2, term: 6, preVote: false, granted: true },
  {
    type: "append",
    from: 1,
    to: 2,
    term: 6,
    prevLogIndex: 10,
    prevLogTerm: 4,
    entries: [
      { index: 11, term: 6, type: EntryType.Normal, data: bytes("hello") },
      { index: 12, term: 6, type: EntryType.ConfChange, data: new Uint8Array([1, 1, 0, 0, 0, 9]) },
      { index: 13, term: 6, type: EntryType.Normal, data: new Uint8Array() },
    ],
    commit: 9,
  },
  { type: "append", from: 1, to: 2, term: 6, prevLogIndex: 13, prevLogTerm: 6, entries: [], commit: 13, readContext: "read-7" },
  { type: "append-response", from: 1, to: 2, term: 6, success: false, matchIndex: 13, rejectHintIndex: 8, rejectHintTerm: 3 },
  {
    type: "append-response",
    from: 1,
    to: 2,
    term: 6,
    success: true,
    matchIndex: 13,
    rejectHintIndex: 0,
    rejectHintTerm: 0,
    readContext: "read-7",
  },
  {
    type: "snapshot",
    from: 1,
    to: 2,
    term: 6,
    meta: { index: 100, term: 5, confState: { voters: [1, 2, 3], observers: [4] } },
    offset: 4096,
    chunk: bytes("chunk of state"),
    done: true,
  },
  { type: "snapshot-response", from: 1, to: 2, term: 6, success: true, nextOffset: 4110, snapshotIndex: 100 },
  { type: "timeout-now", from: 1, to: 2, term: 6 },
];

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Compares with entry/chunk bytes as plain arrays (the receiver gets Buffers). */
function normalize(value: unknown): unknown {
  if (value instanceof Uint8Array) return Array.from(value);
  if (Array.isArray(value)) return value.map(normalize);
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v)]));
  return value;
}

describe("GrpcRaftTransport", () => {
  const open: GrpcRaftTransport[] = [];
  const clients: grpc.Client[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await Promise.all(open.splice(0).map((t) => t.close()));
  });

  async function pair(): Promise<[GrpcRaftTransport, GrpcRaftTransport]> {
    const a = await GrpcRaftTransport.start({ id: 1, listen: { host: "127.0.0.1", port: 0 }, peers: {} });
    const b = await GrpcRaftTransport.start({ id: 2, listen: { host: "127.0.0.1", port: 0 }, peers: { 1: `127.0.0.1:${a.port}` } });
    a.setPeer(2, `127.0.0.1:${b.port}`);
    open.push(a, b);
    return [a, b];
  }

  function rawClient(port: number): RaftClient {
    const Client = loadCastleProto().castle.v1.Raft;
    const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    clients.push(client);
    return client;
  }

  it("delivers every message type intact and in order", async () => {
    const [a, b] = await pair();
    const received: Message[] = [];
    b.onMessage((m) => received.push(m));
    for (const m of everyMessage) a.send(m);
    await waitFor(() => received.length === everyMessage.length, "all messages");
    expect(received.map(normalize)).to.deep.equal(everyMessage.map(normalize));
    expect(a.stats.sentBatches, "one Ready's messages leave in one batch").to.equal(1);
  });

  it("works in both directions", async () => {
    const [a, b] = await pair();
    const atA: Message[] = [];
    b.onMessage((m) => b.send({ type: "vote-response", from: 2, to: m.from, term: m.term, preVote: false, granted: true }));
    a.onMessage((m) => atA.push(m));
    a.send({ type: "vote", from: 1, to: 2, term: 3, preVote: false, lastLogIndex: 0, lastLogTerm: 0, transfer: false });
    await waitFor(() => atA.length === 1, "the response");
    expect(atA[0]).to.include({ type: "vote-response", from: 2, to: 1, granted: true });
  });

  const malformed: Array<[string, WireRaftMessageInput]> = [
    ["no body", { from: 1, to: 2, term: 1 }],
    ["from 0", { ...messageToWire(everyMessage[0] as Message), from: 0 }],
    ["term beyond 2^53", { ...messageToWire(everyMessage[0] as Message), term: "18446744073709551615" }],
    [
      "non-consecutive entries",
      {
        from: 1,
        to: 2,
        term: 2,
        append: {
          prevLogIndex: 1,
          prevLogTerm: 1,
          commit: 0,
          entries: [{ index: 3, term: 2, type: "RAFT_ENTRY_TYPE_NORMAL", data: Buffer.alloc(1) }],
        },
      },
    ],
    [
      "entry term above the message term",
      {
        from: 1,
        to: 2,
        term: 2,
        append: {
          prevLogIndex: 1,
          prevLogTerm: 1,
          commit: 0,
          entries: [{ index: 2, term: 3, type: "RAFT_ENTRY_TYPE_NORMAL", data: Buffer.alloc(1) }],
        },
      },
    ],
    ["snapshot without meta", { from: 1, to: 2, term: 2, snapshot: { offset: 0, chunk: Buffer.alloc(1), done: true } }],
    [
      "duplicate member in a snapshot's configuration",
      {
        from: 1,
        to: 2,
        term: 2,
        snapshot: {
          meta: { index: 5, term: 1, confState: { voters: [1, 1], observers: [] } },
          offset: 0,
          chunk: Buffer.alloc(1),
          done: true,
        },
      },
    ],
    ["to another node", { ...messageToWire(everyMessage[0] as Message), to: 3 }],
  ];

  for (const [what, wire] of malformed) {
    it(`refuses a batch with a malformed message (${what}) without crashing`, async () => {
      const [, b] = await pair();
      const received: Message[] = [];
      b.onMessage((m) => received.push(m));
      const client = rawClient(b.port);
      const good = messageToWire(everyMessage[2] as Message);
      const error = await new Promise<grpc.ServiceError | null>((resolve) =>
        client.Step({ from: 1, to: 2, messages: [good, wire] }, (e) => resolve(e)),
      );
      expect(error?.code, what).to.equal(grpc.status.INVALID_ARGUMENT);
      expect(received, "nothing of a refused batch reaches the core").to.deep.equal([]);
      expect(b.stats.rejected.malformed + b.stats.rejected.misaddressed, what).to.equal(2);
      // Still serving.
      const ok = await new Promise<grpc.ServiceError | null>((resolve) =>
        client.Step({ from: 1, to: 2, messages: [good] }, (e) => resolve(e)),
      );
      expect(ok).to.equal(null);
      expect(received.length).to.equal(1);
    });
  }

  it("refuses a batch addressed to another node", async () => {
    const [, b] = await pair();
    b.onMessage(() => {});
    const error = await new Promise<grpc.ServiceError | null>((resolve) =>
      rawClient(b.port).Step({ from: 1, to: 7, messages: [] }, (e) => resolve(e)),
    );
    expect(error?.code).to.equal(grpc.status.INVALID_ARGUMENT);
    expect(error?.details).to.match(/for node 7, this is node 2/);
  });

  it("drops a malformed batch on a stream and keeps the stream delivering", async () => {
    const [, b] = await pair();
    const received: Message[] = [];
    b.onMessage((m) => received.push(m));
    const good = messageToWire(everyMessage[2] as Message);
    const reply = new Promise<number>((resolve, reject) => {
      const stream = rawClient(b.port).StepStream((error, response) => (error ? reject(error) : resolve(response?.accepted ?? -1)));
      stream.write({ from: 1, to: 2, messages: [good, { ...good, to: 3 }] });
      stream.write({ from: 1, to: 2, messages: [good] });
      stream.end();
    });
    expect(await reply, "only the good batch counted").to.equal(1);
    expect(received.length, "only the good batch reached the core").to.equal(1);
    expect(b.stats.rejected.misaddressed, "the refused batch is counted whole").to.equal(2);
  });

  it("refuses messages from a node that is not a known peer", async () => {
    const [, b] = await pair();
    const received: Message[] = [];
    b.onMessage((m) => received.push(m));
    const stranger = { ...messageToWire(everyMessage[2] as Message), from: 42 };
    const error = await new Promise<grpc.ServiceError | null>((resolve) =>
      rawClient(b.port).Step({ from: 42, to: 2, messages: [stranger] }, (e) => resolve(e)),
    );
    expect(error?.code).to.equal(grpc.status.INVALID_ARGUMENT);
    expect(error?.details).to.match(/node 42 is not a known peer of node 2/);
    expect(b.stats.rejected.unknown_sender).to.equal(1);
    expect(received, "nothing from a stranger reaches the core").to.deep.equal([]);
  });

  it("refuses batches from a node of another cluster, naming both ids and the fix, and delivers its own cluster's", async () => {
    const a = await GrpcRaftTransport.start({ id: 1, listen: { host: "127.0.0.1", port: 0 }, peers: {}, clusterId: "other" });
    const b = await GrpcRaftTransport.start({
      id: 2,
      listen: { host: "127.0.0.1", port: 0 },
      peers: { 1: `127.0.0.1:${a.port}` },
      clusterId: "mine",
    });
    open.push(a, b);
    const received: Message[] = [];
    b.onMessage((m) => received.push(m));
    a.setPeer(2, `127.0.0.1:${b.port}`);
    a.send({ ...(everyMessage[2] as Message), from: 1, to: 2 });
    await waitFor(() => b.stats.rejected.wrong_cluster > 0, "the other cluster's batch refused");
    expect(received, "nothing of another cluster reaches the core").to.deep.equal([]);

    const wire = messageToWire({ ...(everyMessage[2] as Message), from: 1, to: 2 });
    const error = await new Promise<grpc.ServiceError | null>((resolve) =>
      rawClient(b.port).Step({ from: 1, to: 2, messages: [wire], clusterId: "other" }, (e) => resolve(e)),
    );
    expect(error?.details).to.match(
      /INCONSISTENT_CLUSTER_ID: node 1 belongs to cluster "other", node 2 to cluster "mine"; nodes of two clusters cannot form one quorum/,
    );
    const accepted = await new Promise<number>((resolve, reject) =>
      rawClient(b.port).Step({ from: 1, to: 2, messages: [wire], clusterId: "mine" }, (e, r) =>
        e ? reject(e) : resolve(r?.accepted ?? -1),
      ),
    );
    expect(accepted).to.equal(1);
  });

  it("reports an unreachable peer and counts the failed stream", async () => {
    const a = await GrpcRaftTransport.start({
      id: 1,
      listen: { host: "127.0.0.1", port: 0 },
      peers: { 2: "127.0.0.1:1" },
    });
    open.push(a);
    const unreachable: number[] = [];
    a.onUnreachable((peer) => unreachable.push(peer));
    a.send(everyMessage[0] as Message);
    await waitFor(() => unreachable.length > 0, "an unreachable report");
    expect(unreachable[0]).to.equal(2);
    expect(a.stats.streamFailures, "the stream to the dead address failed").to.be.greaterThan(0);
    a.send({ ...(everyMessage[0] as Message), to: 9 });
    expect(a.stats.dropped.unknown_peer, "no address for node 9").to.equal(1);
  });

  it("bounds the outbound queue per peer", async () => {
    const a = await GrpcRaftTransport.start({
      id: 1,
      listen: { host: "127.0.0.1", port: 0 },
      peers: { 2: "127.0.0.1:1" },
      outboundMessagesMax: 10,
    });
    open.push(a);
    for (let i = 0; i < 25; i++) a.send(everyMessage[0] as Message);
    expect(a.stats.dropped.queue_full).to.equal(15);
  });
});

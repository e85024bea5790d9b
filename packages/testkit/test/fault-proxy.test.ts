// The fault proxy (src/fault-proxy): its pure rules; byte-exact forwarding and every fault
// against a plain TCP echo server; the same faults as a gRPC client sees them (castle.v1.Raft
// with a stub Step); and FaultNetwork's group operations between three fake nodes. Every wait
// is bounded; "hangs" means "nothing arrived within a short window while the socket stayed open".

import { createHook } from "node:async_hooks";
import { createHash } from "node:crypto";
import { connect, createServer, type Server, type Socket } from "node:net";
import { type Random, SeededRandom, sleep } from "@castle/common";
import { crc32c, loadCastleProto, type RaftClient, type RaftHandlers } from "@castle/protocol";
import { chunkDueAtMs, directionsOf, FaultNetwork, FaultProxy, handshakeBlocked, newLinkFaults, waitUntil } from "@castle/testkit";
import * as grpc from "@grpc/grpc-js";
import { expect } from "chai";

/** How long "nothing arrives" is watched before a test calls a connection hung. */
const HANG_WINDOW_MS = 250;
/** Bound on every wait for something that should happen. */
const EVENT_TIMEOUT_MS = 5_000;
/** Per test, above any one bounded wait, so a wait that fails names what it waited for. */
const SUITE_TIMEOUT_MS = 10_000;

/** Deterministic bytes (xorshift32), fast enough for tens of MiB. */
function payload(bytes: number, seed: number): Buffer {
  const words = new Uint32Array(Math.ceil(bytes / 4));
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    words[i] = x;
  }
  return Buffer.from(words.buffer, 0, bytes);
}

const sha256 = (data: Uint8Array): string => createHash("sha256").update(data).digest("hex");

function listen(server: Server, host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      resolve(typeof address === "object" && address !== null ? address.port : 0);
    });
  });
}

/** A TCP echo server that counts what reached it and ends its side when the client does. */
interface EchoServer {
  readonly port: number;
  readonly receivedBytes: () => number;
  readonly connections: () => number;
  close(): Promise<void>;
}

async function startEchoServer(): Promise<EchoServer> {
  let receivedBytes = 0;
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    socket.on("data", (chunk: Buffer) => {
      receivedBytes += chunk.length;
    });
    socket.pipe(socket);
  });
  const port = await listen(server);
  return {
    port,
    receivedBytes: () => receivedBytes,
    connections: () => connections,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A client socket and everything that happened to it. */
interface Probe {
  readonly socket: Socket;
  readonly chunks: Buffer[];
  bytes: number;
  /** performance.now() at the first byte received. */
  firstByteAtMs: number | undefined;
  ended: boolean;
  closed: boolean;
  errorCode: string | undefined;
}

/** Connects to 127.0.0.1:port (half-open capable); resolves once connected. */
function dial(port: number): Promise<Probe> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, allowHalfOpen: true });
    const probe: Probe = { socket, chunks: [], bytes: 0, firstByteAtMs: undefined, ended: false, closed: false, errorCode: undefined };
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => {
      probe.firstByteAtMs ??= performance.now();
      probe.chunks.push(chunk);
      probe.bytes += chunk.length;
    });
    socket.on("end", () => {
      probe.ended = true;
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      probe.errorCode ??= error.code;
      reject(error);
    });
    socket.on("close", () => {
      probe.closed = true;
    });
    socket.on("connect", () => resolve(probe));
  });
}

const received = (probe: Probe): Buffer => Buffer.concat(probe.chunks);

async function waitForBytes(probe: Probe, bytes: number, what: string): Promise<void> {
  await waitUntil(() => probe.bytes >= bytes, what, EVENT_TIMEOUT_MS, 5);
}

async function waitForClose(probe: Probe, what: string): Promise<void> {
  await waitUntil(() => probe.closed, what, EVENT_TIMEOUT_MS, 5);
}

/** Counts of live TCP handles, from Node's own list (unref'd timers are not in it). */
function liveResources(): { sockets: number; servers: number } {
  const info = process.getActiveResourcesInfo();
  const count = (name: string) => info.filter((entry) => entry === name).length;
  return { sockets: count("TCPSocketWrap"), servers: count("TCPServerWrap") };
}

/** Tracks the timers created by FaultPipe (src/fault-proxy/fault-pipe.ts) while enabled, until each is cleared or fires. */
function trackProxyTimers(): { live: () => number; created: () => number; disable: () => void } {
  const live = new Set<number>();
  let created = 0;
  const hook = createHook({
    init(asyncId, type) {
      if (type !== "Timeout" || !new Error().stack?.includes("fault-pipe")) return;
      created++;
      live.add(asyncId);
    },
    destroy(asyncId) {
      live.delete(asyncId);
    },
  }).enable();
  return { live: () => live.size, created: () => created, disable: () => hook.disable() };
}

describe("fault proxy: rules", () => {
  it("names the one-way directions of a direction", () => {
    expect(directionsOf("both")).to.deep.equal(["toTarget", "fromTarget"]);
    expect(directionsOf("toTarget")).to.deep.equal(["toTarget"]);
    expect(directionsOf("fromTarget")).to.deep.equal(["fromTarget"]);
  });

  it("adds the delay and a jitter draw to a chunk's due time, drawing only when there is jitter", () => {
    let draws = 0;
    const half: Random = {
      next: () => {
        draws++;
        return 0.5;
      },
      int: (bound) => Math.floor(bound / 2),
    };
    const cases = [
      { delayMs: 0, jitterMs: 0, dueAtMs: 1000, draws: 0 },
      { delayMs: 40, jitterMs: 0, dueAtMs: 1040, draws: 0 },
      { delayMs: 40, jitterMs: 100, dueAtMs: 1090, draws: 1 },
    ];
    for (const c of cases) {
      draws = 0;
      const due = chunkDueAtMs(1000, { blackholed: false, delayMs: c.delayMs, jitterMs: c.jitterMs }, half);
      expect(due, `delay ${c.delayMs} jitter ${c.jitterMs}`).to.equal(c.dueAtMs);
      expect(draws, `draws for delay ${c.delayMs} jitter ${c.jitterMs}`).to.equal(c.draws);
    }
  });

  it("repeats its jitter for a seed", () => {
    const faults = { blackholed: false, delayMs: 10, jitterMs: 50 };
    const sequence = (seed: number) => {
      const random = new SeededRandom(seed);
      return Array.from({ length: 5 }, () => chunkDueAtMs(0, faults, random));
    };
    expect(sequence(7)).to.deep.equal(sequence(7));
    expect(sequence(7)).to.not.deep.equal(sequence(8));
  });

  it("blocks the handshake while either direction is blackholed", () => {
    const faults = newLinkFaults();
    expect(handshakeBlocked(faults)).to.equal(false);
    faults.fromTarget.blackholed = true;
    expect(handshakeBlocked(faults), "SYN-ACK lost").to.equal(true);
    faults.fromTarget.blackholed = false;
    faults.toTarget.blackholed = true;
    expect(handshakeBlocked(faults), "SYN lost").to.equal(true);
  });
});

describe("fault proxy: TCP", function () {
  this.timeout(SUITE_TIMEOUT_MS);
  let echo: EchoServer;
  let proxy: FaultProxy;
  const probes: Probe[] = [];
  const open = async (port = proxy.port): Promise<Probe> => {
    const probe = await dial(port);
    probes.push(probe);
    return probe;
  };

  beforeEach(async () => {
    echo = await startEchoServer();
    proxy = await FaultProxy.start({
      listenHost: "127.0.0.1",
      listenPort: 0,
      target: { host: "127.0.0.1", port: echo.port },
      name: "echo",
    });
  });

  afterEach(async () => {
    for (const probe of probes.splice(0)) probe.socket.destroy();
    await proxy.close();
    await echo.close();
  });

  it("forwards 16 MiB both ways unchanged, and a FIN each way", async () => {
    const bytes = 16 * 1024 * 1024;
    const data = payload(bytes, 1);
    const probe = await open();
    probe.socket.end(data);
    await waitUntil(() => probe.ended, "the echo's FIN through the proxy", EVENT_TIMEOUT_MS, 5);
    expect(probe.bytes).to.equal(bytes);
    expect(sha256(received(probe))).to.equal(sha256(data));
    await waitForClose(probe, "the client socket to close after both FINs");
    await waitUntil(() => proxy.stats.active === 0, "the proxied connection to finish", EVENT_TIMEOUT_MS, 5);
    const stats = proxy.stats;
    expect(stats.bytesToTarget, "bytes to target").to.equal(bytes);
    expect(stats.bytesFromTarget, "bytes from target").to.equal(bytes);
    expect(stats.accepted).to.equal(1);
    expect(stats.heldBytes).to.equal(0);
  });

  it("cut both (blackhole): bytes are held and the socket stays open; heal delivers them in order", async () => {
    const probe = await open();
    probe.socket.write("before-");
    await waitForBytes(probe, 7, "the echo before the cut");
    proxy.cut("both");
    probe.socket.write("held-1,");
    probe.socket.write("held-2");
    await sleep(HANG_WINDOW_MS);
    expect(probe.bytes, "nothing echoed during the cut").to.equal(7);
    expect(probe.closed, "the socket stays open").to.equal(false);
    expect(proxy.stats.heldBytes, "held bytes").to.be.greaterThan(0);
    proxy.heal();
    await waitForBytes(probe, 20, "the held bytes after heal");
    expect(received(probe).toString()).to.equal("before-held-1,held-2");
    expect(proxy.stats.heldBytes).to.equal(0);
  });

  it("cut toTarget: the target receives nothing; cut fromTarget: the target receives but the client gets nothing", async () => {
    const probe = await open();
    probe.socket.write("warm");
    await waitForBytes(probe, 4, "the warm-up echo");

    proxy.cut("toTarget");
    probe.socket.write("one");
    await sleep(HANG_WINDOW_MS);
    expect(echo.receivedBytes(), "the target got nothing past the cut").to.equal(4);
    expect(probe.bytes).to.equal(4);
    proxy.heal();
    await waitForBytes(probe, 7, "the echo after healing toTarget");

    proxy.cut("fromTarget");
    probe.socket.write("two");
    await waitUntil(() => echo.receivedBytes() === 10, "the target to receive through a fromTarget cut", EVENT_TIMEOUT_MS, 5);
    await sleep(HANG_WINDOW_MS);
    expect(probe.bytes, "the echo is held").to.equal(7);
    proxy.heal();
    await waitForBytes(probe, 10, "the echo after healing fromTarget");
    expect(received(probe).toString()).to.equal("warmonetwo");
  });

  it("a connection accepted during a blackhole is not dialed until heal", async () => {
    proxy.cut("fromTarget");
    const probe = await open();
    probe.socket.write("hello");
    await sleep(HANG_WINDOW_MS);
    expect(echo.connections(), "the handshake cannot complete across a one-way cut").to.equal(0);
    expect(proxy.stats.active).to.equal(1);
    proxy.heal();
    await waitForBytes(probe, 5, "the echo after heal");
    expect(echo.connections()).to.equal(1);
    expect(received(probe).toString()).to.equal("hello");
  });

  it("a peer that closes behind a blackhole looks alive until heal, then is reset", async () => {
    const probe = await open();
    probe.socket.write("x");
    await waitForBytes(probe, 1, "the warm-up echo");
    proxy.cut("both");
    const serverSide = echo.connections();
    probe.socket.destroy();
    await sleep(HANG_WINDOW_MS);
    expect(proxy.stats.active, "the target's side still open").to.equal(1);
    proxy.heal();
    await waitUntil(() => proxy.stats.active === 0, "the held reset to reach the target", EVENT_TIMEOUT_MS, 5);
    expect(echo.connections()).to.equal(serverSide);
  });

  it("reset mode: live connections are reset at once and new ones refused; heal accepts again", async () => {
    const live = await open();
    live.socket.write("a");
    await waitForBytes(live, 1, "the warm-up echo");
    live.socket.on("error", () => {});
    proxy.cut("both", { mode: "reset" });
    await waitForClose(live, "the live connection to be reset");
    expect(live.errorCode).to.equal("ECONNRESET");

    const refused = await open().catch(() => undefined);
    if (refused !== undefined) {
      refused.socket.on("error", () => {});
      await waitForClose(refused, "a new connection to be reset");
    }
    expect(proxy.stats.refused).to.equal(1);
    expect(proxy.stats.resets).to.equal(1);
    expect(() => proxy.cut("toTarget", { mode: "reset" })).to.throw(/reset cut acts on whole TCP connections/);

    proxy.heal();
    const fresh = await open();
    fresh.socket.write("b");
    await waitForBytes(fresh, 1, "an echo after heal");
  });

  it("delay adds at least the delay per direction, and jitter keeps order", async () => {
    const probe = await open();
    const roundTripMs = async (text: string): Promise<number> => {
      const before = probe.bytes;
      const start = performance.now();
      probe.firstByteAtMs = undefined;
      probe.socket.write(text);
      await waitForBytes(probe, before + text.length, `the echo of ${text}`);
      return (probe.firstByteAtMs ?? performance.now()) - start;
    };
    await roundTripMs("w");
    proxy.delay(100, 0, "toTarget");
    expect(await roundTripMs("x"), "one way delayed").to.be.at.least(100);
    proxy.delay(60, 0, "both");
    expect(await roundTripMs("y"), "both ways delayed").to.be.at.least(120);
    proxy.heal();
    expect(await roundTripMs("z"), "healed").to.be.below(100);

    proxy.delay(5, 30, "both");
    const text = Array.from({ length: 100 }, (_, i) => `<${i}>`).join("");
    const before = probe.bytes;
    for (let i = 0; i < 100; i++) {
      probe.socket.write(`<${i}>`);
      if (i % 10 === 0) await sleep(1);
    }
    await waitForBytes(probe, before + text.length, "the jittered echo");
    expect(received(probe).subarray(before).toString(), "order kept under jitter").to.equal(text);
  });

  it("resetAll resets live connections and accepts new ones", async () => {
    const a = await open();
    const b = await open();
    for (const probe of [a, b]) {
      probe.socket.on("error", () => {});
      probe.socket.write("1");
      await waitForBytes(probe, 1, "the warm-up echo");
    }
    expect(proxy.resetAll()).to.equal(2);
    await waitForClose(a, "connection a to be reset");
    await waitForClose(b, "connection b to be reset");
    expect([a.errorCode, b.errorCode]).to.deep.equal(["ECONNRESET", "ECONNRESET"]);
    const c = await open();
    c.socket.write("2");
    await waitForBytes(c, 1, "an echo on a new connection");
    expect(proxy.stats.resets).to.equal(2);
    expect(proxy.stats.active).to.equal(1);
  });

  it("resets a connection that holds more than heldBytesMax, and counts it", async () => {
    const small = await FaultProxy.start({ target: { host: "127.0.0.1", port: echo.port }, heldBytesMax: 1024 * 1024 });
    try {
      small.cut("toTarget");
      const probe = await open(small.port);
      probe.socket.on("error", () => {});
      probe.socket.write(payload(4 * 1024 * 1024, 2));
      await waitForClose(probe, "the overflowing connection to be reset");
      const stats = small.stats;
      expect(stats.heldOverflows).to.equal(1);
      expect(stats.resets).to.equal(1);
      expect(stats.active).to.equal(0);
      expect(stats.heldBytes).to.equal(0);
      expect(echo.connections(), "never dialed").to.equal(0);
    } finally {
      await small.close();
    }
  });

  it("resets the client when the target refuses", async () => {
    await echo.close();
    const probe = await open();
    probe.socket.on("error", () => {});
    await waitForClose(probe, "the client to be reset");
    expect(proxy.stats.dialFailures).to.equal(1);
    expect(proxy.stats.active).to.equal(0);
  });
});

describe("fault proxy: close", function () {
  this.timeout(SUITE_TIMEOUT_MS);
  it("close() resets every connection, stops listening, leaves no sockets or timers, and is idempotent", async () => {
    const baseline = liveResources();
    const timers = trackProxyTimers();
    try {
      const echo = await startEchoServer();
      const proxy = await FaultProxy.start({ target: { host: "127.0.0.1", port: echo.port } });
      const clients: Probe[] = [];
      for (let i = 0; i < 3; i++) {
        const probe = await dial(proxy.port);
        probe.socket.on("error", () => {});
        clients.push(probe);
      }
      proxy.delay(10_000, 0, "fromTarget");
      clients[0]?.socket.write("delayed echo: a timer is armed");
      await waitUntil(() => echo.receivedBytes() > 0, "the write to reach the echo", EVENT_TIMEOUT_MS, 5);
      proxy.cut("toTarget");
      clients[1]?.socket.write("held");
      await waitUntil(() => proxy.stats.heldChunks >= 2, "both directions to hold chunks", EVENT_TIMEOUT_MS, 5);
      expect(timers.live(), "a delay timer is armed").to.equal(1);

      await Promise.all([proxy.close(), proxy.close()]);
      await proxy.close();
      expect(proxy.stats.active).to.equal(0);
      expect(proxy.stats.heldBytes).to.equal(0);
      for (const probe of clients) await waitForClose(probe, "a client to see the reset");
      const refused = await dial(proxy.port).then(
        () => "connected",
        (error: NodeJS.ErrnoException) => error.code,
      );
      expect(refused).to.equal("ECONNREFUSED");
      await echo.close();
      await waitUntil(() => timers.live() === 0, "the proxy's timers to be cleared", EVENT_TIMEOUT_MS, 5);
      const settled = (now: { sockets: number; servers: number }) => now.sockets <= baseline.sockets && now.servers <= baseline.servers;
      await waitUntil(() => settled(liveResources()), "sockets and servers back to the baseline", EVENT_TIMEOUT_MS, 5).catch(() => {});
      expect(liveResources()).to.deep.equal(baseline);
      expect(timers.created(), "timers seen").to.be.at.least(1);
    } finally {
      timers.disable();
    }
  });
});

describe("fault proxy: gRPC", function () {
  this.timeout(SUITE_TIMEOUT_MS);
  const proto = loadCastleProto();
  const channelOptions = {
    "grpc.max_receive_message_length": -1,
    "grpc.max_send_message_length": -1,
    "grpc.initial_reconnect_backoff_ms": 50,
    "grpc.max_reconnect_backoff_ms": 100,
  };
  let server: grpc.Server;
  let serverPort: number;
  let steps = 0;
  let proxy: FaultProxy;
  let client: RaftClient;

  interface StepResult {
    readonly code: grpc.status;
    readonly accepted: number | undefined;
    readonly elapsedMs: number;
  }

  /** One Step; `accepted` is the server's crc32c of the cluster id, so bytes are checked end to end. */
  const step = (clusterId: string, deadlineMs: number, waitForReady = false): Promise<StepResult> =>
    new Promise((resolve) => {
      const start = performance.now();
      const metadata = new grpc.Metadata({ waitForReady });
      client.Step({ from: 1, to: 2, messages: [], clusterId }, metadata, { deadline: Date.now() + deadlineMs }, (error, response) =>
        resolve({ code: error ? error.code : grpc.status.OK, accepted: response?.accepted, elapsedMs: performance.now() - start }),
      );
    });

  before(async () => {
    const handlers: RaftHandlers = {
      Step: (call, callback) => {
        steps++;
        callback(null, { accepted: crc32c(Buffer.from(call.request.clusterId)) });
      },
      StepStream: (call, callback) => {
        call.on("data", () => {});
        call.on("end", () => callback(null, { accepted: 0 }));
      },
    };
    server = new grpc.Server(channelOptions);
    server.addService(proto.castle.v1.Raft.service, handlers);
    serverPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port))),
    );
  });

  after(() => {
    server.forceShutdown();
  });

  beforeEach(async () => {
    proxy = await FaultProxy.start({ target: { host: "127.0.0.1", port: serverPort }, name: "raft" });
    client = new proto.castle.v1.Raft(`127.0.0.1:${proxy.port}`, grpc.credentials.createInsecure(), channelOptions);
    const warm = await step("warm", EVENT_TIMEOUT_MS, true);
    expect(warm.code, "warm-up call").to.equal(grpc.status.OK);
  });

  afterEach(async () => {
    client.close();
    await proxy.close();
  });

  it("a 4 MiB call passes through unchanged", async () => {
    const clusterId = Buffer.from(payload(4 * 1024 * 1024, 3).map((b) => 97 + (b % 26))).toString("latin1");
    const result = await step(clusterId, EVENT_TIMEOUT_MS);
    expect(result.code).to.equal(grpc.status.OK);
    expect(result.accepted).to.equal(crc32c(Buffer.from(clusterId)));
  });

  it("cut both ways: a call hangs until its deadline; heal: the next call succeeds", async () => {
    proxy.cut("both");
    const hung = await step("hung", 300);
    expect(hung.code).to.equal(grpc.status.DEADLINE_EXCEEDED);
    expect(hung.elapsedMs).to.be.at.least(290);
    proxy.heal();
    const after = await step("after", EVENT_TIMEOUT_MS);
    expect(after.code).to.equal(grpc.status.OK);
    expect(after.accepted).to.equal(crc32c(Buffer.from("after")));
  });

  it("cut toTarget: the server never sees the call; cut fromTarget: it handles the call but the reply is lost", async () => {
    const before = steps;
    proxy.cut("toTarget");
    expect((await step("lost request", 300)).code).to.equal(grpc.status.DEADLINE_EXCEEDED);
    expect(steps, "no call reached the server").to.equal(before);
    proxy.heal();
    expect((await step("healed", EVENT_TIMEOUT_MS)).code).to.equal(grpc.status.OK);

    const handled = steps;
    proxy.cut("fromTarget");
    const lost = step("lost reply", 400);
    await waitUntil(() => steps > handled, "the server to handle the call", EVENT_TIMEOUT_MS, 5);
    expect((await lost).code).to.equal(grpc.status.DEADLINE_EXCEEDED);
    proxy.heal();
    expect((await step("healed again", EVENT_TIMEOUT_MS)).code).to.equal(grpc.status.OK);
  });

  it("reset mode: an in-flight call and new calls fail fast with UNAVAILABLE; heal: calls succeed", async () => {
    proxy.cut("both");
    const inFlight = step("in flight", EVENT_TIMEOUT_MS);
    await sleep(50);
    proxy.cut("both", { mode: "reset" });
    const failed = await inFlight;
    expect(failed.code, "the in-flight call").to.equal(grpc.status.UNAVAILABLE);
    expect(failed.elapsedMs).to.be.below(1000);
    const fresh = await step("fresh", EVENT_TIMEOUT_MS);
    expect(fresh.code, "a new call").to.equal(grpc.status.UNAVAILABLE);
    expect(fresh.elapsedMs).to.be.below(1000);
    expect(proxy.stats.refused, "reconnects refused").to.be.at.least(1);
    proxy.heal();
    expect((await step("healed", EVENT_TIMEOUT_MS, true)).code).to.equal(grpc.status.OK);
  });

  it("resetAll: a held call fails with UNAVAILABLE and the channel reconnects", async () => {
    proxy.cut("both");
    const held = step("held", EVENT_TIMEOUT_MS);
    await sleep(50);
    expect(proxy.resetAll()).to.equal(1);
    const failed = await held;
    expect(failed.code).to.equal(grpc.status.UNAVAILABLE);
    proxy.heal();
    expect((await step("reconnected", EVENT_TIMEOUT_MS, true)).code).to.equal(grpc.status.OK);
    expect(proxy.stats.accepted).to.equal(2);
  });
});

describe("fault network", function () {
  this.timeout(SUITE_TIMEOUT_MS);
  /** A fake node: answers each line "msg" with "id:msg" and records what it received. */
  interface FakeNode {
    readonly id: string;
    readonly port: number;
    readonly heard: string[];
    connections: number;
    close(): Promise<void>;
  }

  const startFakeNode = async (id: string): Promise<FakeNode> => {
    const sockets = new Set<Socket>();
    const node: FakeNode = { id, port: 0, heard: [], connections: 0, close: async () => {} };
    const server = createServer((socket) => {
      node.connections++;
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {});
      let pending = "";
      socket.on("data", (chunk: Buffer) => {
        pending += chunk.toString();
        for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          node.heard.push(line);
          socket.write(`${id}:${line}\n`);
        }
      });
    });
    const port = await listen(server);
    return Object.assign(node, {
      port,
      close: () =>
        new Promise<void>((resolve) => {
          for (const socket of sockets) socket.destroy();
          server.close(() => resolve());
        }),
    });
  };

  let nodes: FakeNode[];
  let network: FaultNetwork;
  const opened: Probe[] = [];

  /** Opens a connection from `from` to node `to` through the network. */
  const open = async (from: string, to: string): Promise<Probe> => {
    const probe = await dial(network.address(from, to, "peer").port);
    probe.socket.on("error", () => {});
    opened.push(probe);
    return probe;
  };

  /** Sends one line on `probe`; the reply, or "hung" if none came within HANG_WINDOW_MS. */
  const ask = async (probe: Probe, line: string): Promise<string> => {
    const before = probe.bytes;
    probe.socket.write(`${line}\n`);
    const replied = await waitUntil(
      () => probe.bytes > before && received(probe).subarray(before).includes(10),
      "a reply",
      HANG_WINDOW_MS,
      5,
    ).then(
      () => true,
      () => false,
    );
    return replied ? received(probe).subarray(before).toString().trim() : "hung";
  };

  /** Every ordered pair among the endpoints' nodes, asked on a fresh connection at once. */
  const askAll = async (froms: readonly string[]): Promise<Record<string, string>> => {
    const pairs = froms.flatMap((from) => ["1", "2", "3"].filter((to) => to !== from).map((to) => [from, to] as const));
    const replies = await Promise.all(pairs.map(async ([from, to]) => ask(await open(from, to), `${from}>${to}`)));
    return Object.fromEntries(pairs.map(([from, to], i) => [`${from}>${to}`, replies[i] === "hung" ? "hung" : "ok"]));
  };

  beforeEach(async () => {
    nodes = await Promise.all(["1", "2", "3"].map(startFakeNode));
    const listeners = Object.fromEntries(nodes.map((node) => [node.id, { peer: { host: "127.0.0.1", port: node.port } }]));
    network = await FaultNetwork.start({ listeners, clients: ["c"], seed: 42 });
  });

  afterEach(async () => {
    for (const probe of opened.splice(0)) probe.socket.destroy();
    await network.close();
    await Promise.all(nodes.map((node) => node.close()));
  });

  it("gives every endpoint its own proxy to every other node, and each node an address book", () => {
    expect(network.endpoints).to.deep.equal(["1", "2", "3", "c"]);
    expect(network.links).to.have.length(9);
    const book = network.addressBook("1", "peer");
    expect([...book.keys()]).to.deep.equal(["1", "2", "3"]);
    expect(book.get("1")?.port, "a node reaches itself directly").to.equal(nodes[0]?.port);
    for (const to of ["2", "3"]) {
      const proxy = network.link("1", to, "peer");
      expect(book.get(to)?.port, `1's view of ${to}`).to.equal(proxy.port);
      expect(proxy.target.port, `the 1->${to} proxy's target`).to.equal(nodes[Number(to) - 1]?.port);
    }
    const ports = network.links.map((link) => link.proxy.port);
    expect(new Set(ports).size, "one proxy per directed link").to.equal(ports.length);
    expect(network.address("c", "2", "peer").port).to.equal(network.link("c", "2", "peer").port);
    expect(() => network.address("x", "1", "peer")).to.throw(/unknown endpoint "x"/);
  });

  it("partition cuts both ways between the groups only; healAll restores every link", async () => {
    network.partition(["1"], ["2", "3"]);
    expect(await askAll(["1", "2", "3", "c"])).to.deep.equal({
      "1>2": "hung",
      "1>3": "hung",
      "2>1": "hung",
      "2>3": "ok",
      "3>1": "hung",
      "3>2": "ok",
      "c>1": "ok",
      "c>2": "ok",
      "c>3": "ok",
    });
    network.healAll();
    const healed = await askAll(["1", "2", "3"]);
    expect(
      Object.values(healed).every((reply) => reply === "ok"),
      JSON.stringify(healed),
    ).to.equal(true);
  });

  it("isolate cuts a node from every endpoint, clients included", async () => {
    network.isolate("2");
    expect(await askAll(["1", "c"])).to.deep.equal({ "1>2": "hung", "1>3": "ok", "c>1": "ok", "c>2": "hung", "c>3": "ok" });
    network.healAll();
    expect(await askAll(["c"])).to.deep.equal({ "c>1": "ok", "c>2": "ok", "c>3": "ok" });
  });

  it("cutOneWay drops bytes from one node to another only; new connections between them hang", async () => {
    const oneToTwo = await open("1", "2");
    const twoToOne = await open("2", "1");
    expect(await ask(oneToTwo, "warm")).to.equal("2:warm");
    expect(await ask(twoToOne, "warm")).to.equal("1:warm");
    network.cutOneWay("1", "2");
    expect(await ask(oneToTwo, "from 1"), "1's request is lost").to.equal("hung");
    expect(nodes[1]?.heard, "2 heard nothing from 1").to.deep.equal(["warm"]);
    expect(await ask(twoToOne, "from 2"), "1's reply is lost").to.equal("hung");
    expect(nodes[0]?.heard, "1 heard 2's request").to.deep.equal(["warm", "from 2"]);
    const connectionsBefore = nodes[1]?.connections;
    expect(await ask(await open("1", "2"), "new"), "a new connection cannot complete its handshake").to.equal("hung");
    expect(nodes[1]?.connections).to.equal(connectionsBefore);
    expect(await askAll(["3"]), "other links untouched").to.deep.equal({ "3>1": "ok", "3>2": "ok" });
    network.healAll();
    await waitForBytes(oneToTwo, "2:warm\n2:from 1\n".length, "1's held request answered after heal");
    await waitForBytes(twoToOne, "1:warm\n1:from 2\n".length, "1's held reply delivered after heal");
    expect(received(oneToTwo).toString()).to.equal("2:warm\n2:from 1\n");
    expect(network.stats.heldBytes).to.equal(0);
  });
});

// A userspace TCP proxy on loopback that a test controls: every accepted connection is piped to
// one target, byte for byte (gRPC over HTTP/2 passes unchanged), through faults the test sets
// (cut, delay, reset). The nemesis of the chaos tests, where `tc netem` is not available.
//
// Semantics (each control applies to live connections and new ones at once):
// - cut(direction, {mode: "blackhole"}) holds bytes in that direction and keeps the sockets
//   open: each peer sees a hung connection, as in a real partition. A new connection is held
//   too and the target is not dialed until heal (a blackhole either way loses the handshake).
// - heal() lifts every cut and delay and delivers what was held, in order: TCP retransmits what
//   a partition dropped, so a connection that survives a partition resumes where it stopped. A
//   test that wants the connection to die instead calls resetAll() before heal().
// - cut("both", {mode: "reset"}) resets every connection and resets new ones at accept until
//   heal (a fast failure: gRPC sees UNAVAILABLE). A TCP connection cannot be reset one way.
// - Held bytes are capped per connection (heldBytesMax): beyond it the connection is reset and
//   counted, the way TCP gives up on a peer that never acknowledges.
// - Without a blackhole, a direction pauses its reader above a window of queued bytes, so a slow
//   or delayed path pushes back on the sender instead of buffering without bound.

import { createServer, type Server, type Socket } from "node:net";
import { type Clock, invariant, type Random, SeededRandom, systemClock } from "@castle/common";
import {
  type CutMode,
  directionsOf,
  type FaultDirection,
  LINK_DELAY_MS_MAX,
  type LinkFaults,
  newLinkFaults,
  snapshotLinkFaults,
} from "./link-faults.js";
import { type ConnectionEnvironment, ProxiedConnection, type ProxyCounters, type ProxyTarget } from "./proxied-connection.js";

/** Undelivered bytes one connection may hold (both directions) before it is reset. */
export const DEFAULT_HELD_BYTES_MAX = 64 * 1024 * 1024;
/** Queued bytes above which an unblocked direction pauses its reader (a TCP window's worth). */
export const FLOW_WINDOW_BYTES_MAX = 4 * 1024 * 1024;
/** Smallest heldBytesMax: room for a window plus a read of 64 KiB overshooting it. */
export const HELD_BYTES_MIN = 256 * 1024;
/** Concurrent connections per proxy; more are reset at accept and counted as refused. */
export const PROXY_CONNECTIONS_MAX = 1024;

export interface FaultProxyOptions {
  /** Default 127.0.0.1. */
  readonly listenHost?: string;
  /** Default 0: any free port (read `port` after start). */
  readonly listenPort?: number;
  readonly target: ProxyTarget;
  /** For messages and logs; default "host:port->host:port". */
  readonly name?: string;
  /** Jitter draws; default SeededRandom(0), so a run's draws repeat. */
  readonly random?: Random;
  /** Delivery times; default the system's monotonic clock (timers are real). */
  readonly clock?: Clock;
  /** Default DEFAULT_HELD_BYTES_MAX (64 MiB); at least HELD_BYTES_MIN. */
  readonly heldBytesMax?: number;
}

export interface CutOptions {
  /** Default "blackhole". */
  readonly mode?: CutMode;
}

export interface FaultProxyStats {
  /** Connections accepted since start, refused ones included. */
  readonly accepted: number;
  /** Connections open now. */
  readonly active: number;
  /** Connections reset at accept (a reset-mode cut, or PROXY_CONNECTIONS_MAX reached). */
  readonly refused: number;
  /** Connections the proxy reset (resetAll, a reset-mode cut, a held-bytes overflow). */
  readonly resets: number;
  /** Connections reset for holding more than heldBytesMax. */
  readonly heldOverflows: number;
  readonly dialFailures: number;
  /** Bytes delivered to the target, and to clients, since start. */
  readonly bytesToTarget: number;
  readonly bytesFromTarget: number;
  /** Undelivered right now, both directions, every connection (held by a cut, a delay, or backpressure). */
  readonly heldBytes: number;
  readonly heldChunks: number;
}

export class FaultProxy {
  readonly name: string;
  readonly target: ProxyTarget;
  readonly host: string;
  private readonly faultState: LinkFaults = newLinkFaults();
  private readonly connections = new Set<ProxiedConnection>();
  private readonly counters: ProxyCounters = { bytesToTarget: 0, bytesFromTarget: 0, resets: 0, heldOverflows: 0, dialFailures: 0 };
  private accepted = 0;
  private refused = 0;
  private closing: Promise<void> | undefined;
  private readonly connectionEnv: ConnectionEnvironment;

  private constructor(
    private readonly server: Server,
    options: FaultProxyOptions,
    readonly port: number,
  ) {
    this.target = options.target;
    this.host = options.listenHost ?? "127.0.0.1";
    this.name = options.name ?? `${this.host}:${port}->${options.target.host}:${options.target.port}`;
    const heldBytesMax = options.heldBytesMax ?? DEFAULT_HELD_BYTES_MAX;
    this.connectionEnv = {
      target: options.target,
      faults: this.faultState,
      clock: options.clock ?? systemClock,
      random: options.random ?? new SeededRandom(0),
      heldBytesMax,
      flowWindowBytes: Math.min(FLOW_WINDOW_BYTES_MAX, Math.floor(heldBytesMax / 2)),
      counters: this.counters,
      onFinished: (connection) => {
        this.connections.delete(connection);
      },
    };
    server.on("connection", (socket) => this.handleConnection(socket));
  }

  /** Listens, then forwards every accepted connection to `options.target`. */
  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const heldBytesMax = options.heldBytesMax ?? DEFAULT_HELD_BYTES_MAX;
    invariant(
      Number.isSafeInteger(heldBytesMax) && heldBytesMax >= HELD_BYTES_MIN,
      `heldBytesMax must be an integer >= ${HELD_BYTES_MIN}, got ${heldBytesMax}`,
    );
    invariant(
      Number.isInteger(options.target.port) && options.target.port > 0 && options.target.port < 65536,
      `target port must be in 1..65535, got ${options.target.port}`,
    );
    const server = createServer({ allowHalfOpen: true });
    const port = await new Promise<number>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.listenPort ?? 0, options.listenHost ?? "127.0.0.1", () => {
        server.off("error", reject);
        const address = server.address();
        resolve(typeof address === "object" && address !== null ? address.port : 0);
      });
    });
    server.on("error", () => {
      // After listening, a server error has no caller to reach; connections report their own.
    });
    return new FaultProxy(server, options, port);
  }

  get stats(): FaultProxyStats {
    let heldBytes = 0;
    let heldChunks = 0;
    for (const connection of this.connections) {
      heldBytes += connection.queuedBytes;
      heldChunks += connection.queuedChunks;
    }
    return { ...this.counters, accepted: this.accepted, active: this.connections.size, refused: this.refused, heldBytes, heldChunks };
  }

  /** The faults in force now (a copy). */
  get faults(): LinkFaults {
    return snapshotLinkFaults(this.faultState);
  }

  /**
   * Stops bytes in `direction`. Blackhole (default): hold them, keep sockets open, hold new
   * connections undialed. Reset: only "both"; reset every connection now and every new one at
   * accept. Cuts add up until heal().
   */
  cut(direction: FaultDirection = "both", options: CutOptions = {}): void {
    const mode = options.mode ?? "blackhole";
    if (mode === "reset") {
      invariant(direction === "both", `${this.name}: a reset cut acts on whole TCP connections; use direction "both", not "${direction}"`);
      this.faultState.refusing = true;
      this.resetAll();
      return;
    }
    for (const way of directionsOf(direction)) this.faultState[way].blackholed = true;
    this.applyFaults();
  }

  /** Lifts every cut and delay; what was held or delayed is delivered now, in order. */
  heal(): void {
    for (const way of directionsOf("both")) {
      Object.assign(this.faultState[way], { blackholed: false, delayMs: 0, jitterMs: 0 });
    }
    this.faultState.refusing = false;
    for (const connection of this.connections) connection.expedite();
    this.applyFaults();
  }

  /**
   * Delays every chunk in `direction` by `delayMs` plus a seeded draw in [0, jitterMs); order is
   * kept. Replaces the direction's previous delay; chunks already queued keep their times.
   */
  delay(delayMs: number, jitterMs = 0, direction: FaultDirection = "both"): void {
    for (const [label, value] of [
      ["delayMs", delayMs],
      ["jitterMs", jitterMs],
    ] as const) {
      invariant(
        Number.isFinite(value) && value >= 0 && value <= LINK_DELAY_MS_MAX,
        `${this.name}: ${label} must be in 0..${LINK_DELAY_MS_MAX}, got ${value}`,
      );
    }
    for (const way of directionsOf(direction)) Object.assign(this.faultState[way], { delayMs, jitterMs });
    this.applyFaults();
  }

  /** Resets every open connection (RST to both peers), like a crash on the path; new ones are accepted. Returns how many. */
  resetAll(): number {
    const open = [...this.connections];
    this.counters.resets += open.length;
    for (const connection of open) connection.abort();
    return open.length;
  }

  /** Stops listening and resets every connection; resolves when the listener is closed. Idempotent. */
  close(): Promise<void> {
    if (this.closing === undefined) {
      this.closing = new Promise<void>((resolve) => this.server.close(() => resolve()));
      for (const connection of [...this.connections]) connection.abort();
    }
    return this.closing;
  }

  private applyFaults(): void {
    for (const connection of [...this.connections]) connection.applyFaults();
  }

  private handleConnection(socket: Socket): void {
    this.accepted++;
    socket.on("error", () => {
      // A refused socket may report its own reset; nothing to do.
    });
    if (this.faultState.refusing || this.closing !== undefined || this.connections.size >= PROXY_CONNECTIONS_MAX) {
      this.refused++;
      socket.resetAndDestroy();
      return;
    }
    this.connections.add(new ProxiedConnection(socket, this.connectionEnv));
  }
}

// One accepted client connection and its connection to the target: two FaultPipes (toTarget,
// fromTarget) between two sockets. The connection owns both sockets' lifetimes.
//
// Lifecycle: accepted -> (dial deferred while a blackhole would lose the handshake) -> dialing ->
// connected -> finished. It finishes when both sockets have closed, when the client closes before
// a dial, or when it is reset (by the proxy, by a held-bytes overflow, by a peer's reset that was
// delivered, or by a failed dial). Both sockets are half-open capable, so a FIN travels through
// the pipe like data and each direction shuts down on its own.

import { connect, type Socket } from "node:net";
import type { Clock, Random } from "@castle/common";
import { FaultPipe } from "./fault-pipe.js";
import { handshakeBlocked, type LinkFaults } from "./link-faults.js";

/** Where a proxy forwards its connections. */
export interface ProxyTarget {
  readonly host: string;
  readonly port: number;
}

/** Running totals a proxy keeps across its connections (mutated by them). */
export interface ProxyCounters {
  bytesToTarget: number;
  bytesFromTarget: number;
  /** Connections the proxy reset itself (resetAll, a reset-mode cut, a held-bytes overflow). */
  resets: number;
  /** Connections reset because they held more than heldBytesMax. */
  heldOverflows: number;
  /** Dials to the target that failed (refused, or closed before connecting). */
  dialFailures: number;
}

export interface ConnectionEnvironment {
  readonly target: ProxyTarget;
  readonly faults: LinkFaults;
  readonly clock: Clock;
  readonly random: Random;
  /** Undelivered bytes (both directions) above which the connection is reset. */
  readonly heldBytesMax: number;
  readonly flowWindowBytes: number;
  readonly counters: ProxyCounters;
  /** Called once, when the connection is finished; the proxy forgets it. */
  onFinished(connection: ProxiedConnection): void;
}

/** Destroys with RST when the socket is connected (the peer sees ECONNRESET), else plainly. */
function abortSocket(socket: Socket): void {
  if (socket.destroyed) return;
  if (socket.connecting) socket.destroy();
  else socket.resetAndDestroy();
}

export class ProxiedConnection {
  private readonly toTarget: FaultPipe;
  private readonly fromTarget: FaultPipe;
  private target: Socket | undefined;
  private clientClosed = false;
  private targetClosed = false;
  private finished = false;

  constructor(
    private readonly client: Socket,
    private readonly env: ConnectionEnvironment,
  ) {
    const { faults, clock, random, flowWindowBytes, counters } = env;
    // A chunk for a closed peer: a real kernel answers with RST, unless a partition eats both.
    const onUndeliverable = () => {
      if (!handshakeBlocked(faults)) this.abort();
    };
    const pipeEnv = { clock, random, flowWindowBytes, onUndeliverable };
    this.toTarget = new FaultPipe({
      ...pipeEnv,
      faults: faults.toTarget,
      onDelivered: (bytes) => {
        counters.bytesToTarget += bytes;
      },
      onResetDelivered: () => this.abort(),
    });
    this.fromTarget = new FaultPipe({
      ...pipeEnv,
      faults: faults.fromTarget,
      onDelivered: (bytes) => {
        counters.bytesFromTarget += bytes;
      },
      onResetDelivered: () => this.abort(),
    });
    client.setNoDelay(true);
    client.on("data", (chunk: Buffer) => {
      this.toTarget.pushData(chunk);
      this.checkHeldBytes();
    });
    client.on("end", () => this.toTarget.pushEnd());
    client.on("error", () => {
      // "close" follows; the pipe carries the consequence to the target.
    });
    client.on("close", () => {
      this.clientClosed = true;
      this.fromTarget.close();
      this.toTarget.pushReset();
      this.maybeFinish();
    });
    this.toTarget.attachSource(client);
    this.fromTarget.attachSink(client);
    this.maybeDial();
  }

  /** Undelivered bytes in both directions. */
  get queuedBytes(): number {
    return this.toTarget.queuedBytes + this.fromTarget.queuedBytes;
  }

  get queuedChunks(): number {
    return this.toTarget.queuedChunks + this.fromTarget.queuedChunks;
  }

  /** Re-reads the link's faults: delivers what became due, dials if the handshake can now complete. */
  applyFaults(): void {
    this.toTarget.pump();
    this.fromTarget.pump();
    this.maybeDial();
  }

  /** Makes everything queued due now (heal). */
  expedite(): void {
    this.toTarget.expedite();
    this.fromTarget.expedite();
  }

  /** Resets both sockets now (RST to each peer) and finishes. Idempotent. */
  abort(): void {
    abortSocket(this.client);
    if (this.target !== undefined) abortSocket(this.target);
    this.finish();
  }

  private maybeDial(): void {
    if (this.target !== undefined || this.finished || this.clientClosed || handshakeBlocked(this.env.faults)) return;
    const target = connect({ host: this.env.target.host, port: this.env.target.port, allowHalfOpen: true });
    this.target = target;
    let connected = false;
    target.setNoDelay(true);
    target.on("connect", () => {
      connected = true;
      this.toTarget.attachSink(target);
    });
    target.on("data", (chunk: Buffer) => {
      this.fromTarget.pushData(chunk);
      this.checkHeldBytes();
    });
    target.on("end", () => this.fromTarget.pushEnd());
    target.on("error", () => {
      // "close" follows.
    });
    target.on("close", () => {
      this.targetClosed = true;
      this.toTarget.close();
      if (this.finished) return; // reset by us: not a failure of the target
      if (!connected) {
        this.env.counters.dialFailures++;
        this.abort();
        return;
      }
      this.fromTarget.pushReset();
      this.maybeFinish();
    });
    this.fromTarget.attachSource(target);
  }

  private checkHeldBytes(): void {
    if (this.finished || this.queuedBytes <= this.env.heldBytesMax) return;
    this.env.counters.heldOverflows++;
    this.env.counters.resets++;
    this.abort();
  }

  private maybeFinish(): void {
    if (this.clientClosed && (this.targetClosed || this.target === undefined)) this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.toTarget.close();
    this.fromTarget.close();
    this.env.onFinished(this);
  }
}

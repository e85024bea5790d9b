// One direction of one proxied connection: a FIFO of the source's chunks, then its end (FIN) or
// reset (RST), delivered to the sink in order once each is due and only while the direction is
// not blackholed. A blackhole holds everything, the end and the reset included: a peer that
// died behind a partition looks alive until heal, as it would on a real network.
//
// Ownership: the pipe never destroys a socket. It pauses and resumes its source (flow control)
// and writes and ends its sink; a delivered reset and an undeliverable chunk are reported to its
// connection, which owns both sockets.

import type { Socket } from "node:net";
import type { Clock, Random } from "@castle/common";
import { chunkDueAtMs, type DirectionFaults } from "./link-faults.js";

type PipeItem =
  | { readonly kind: "data"; readonly chunk: Buffer; dueAtMs: number }
  | { readonly kind: "end"; dueAtMs: number }
  | { readonly kind: "reset"; dueAtMs: number };

/** Delivered items the queue keeps before compacting its array. */
const COMPACT_AFTER_ITEMS = 1024;

export interface FaultPipeEnvironment {
  /** This direction's faults, shared by reference with the proxy (read on every pump). */
  readonly faults: DirectionFaults;
  readonly clock: Clock;
  /** Jitter draws; one per chunk, only when the direction has jitter. */
  readonly random: Random;
  /**
   * Above this many queued bytes the source is paused, unless the direction is blackholed (a
   * blackhole keeps reading, so the sender's writes succeed as they would into a real network,
   * and the connection's held-bytes cap bounds it instead).
   */
  readonly flowWindowBytes: number;
  onDelivered(bytes: number): void;
  /** The source's reset reached the sink side: the connection must reset the sink. */
  onResetDelivered(): void;
  /** A chunk arrived after the sink closed: the peer is gone, as a real kernel would answer with RST. */
  onUndeliverable(): void;
}

export class FaultPipe {
  private readonly items: Array<PipeItem | undefined> = [];
  private head = 0;
  private bytes = 0;
  private source: Socket | undefined;
  private sink: Socket | undefined;
  private sinkBlocked = false;
  private sourcePaused = false;
  /** An end or a reset was queued: nothing more comes from the source. */
  private sourceFinished = false;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly env: FaultPipeEnvironment) {}

  /** Bytes read from the source and not yet written to the sink. */
  get queuedBytes(): number {
    return this.bytes;
  }

  /** Chunks (and end or reset markers) not yet delivered. */
  get queuedChunks(): number {
    return this.items.length - this.head;
  }

  attachSource(socket: Socket): void {
    this.source = socket;
    this.updateSourceFlow();
  }

  /** The sink is connected; delivery may start. */
  attachSink(socket: Socket): void {
    this.sink = socket;
    this.pump();
  }

  pushData(chunk: Buffer): void {
    if (this.closed) {
      this.env.onUndeliverable();
      return;
    }
    if (this.sourceFinished) return;
    this.items.push({ kind: "data", chunk, dueAtMs: this.dueAtMs() });
    this.bytes += chunk.length;
    this.pump();
  }

  /** The source sent FIN: the sink gets end() after every earlier chunk. */
  pushEnd(): void {
    if (this.closed || this.sourceFinished) return;
    this.sourceFinished = true;
    this.items.push({ kind: "end", dueAtMs: this.dueAtMs() });
    this.pump();
  }

  /** The source closed without FIN: the sink is reset after every earlier chunk. No-op after an end. */
  pushReset(): void {
    if (this.closed || this.sourceFinished) return;
    this.sourceFinished = true;
    this.items.push({ kind: "reset", dueAtMs: this.dueAtMs() });
    this.pump();
  }

  /** Makes everything queued due now (heal: a retransmission delivers what the partition held). */
  expedite(): void {
    for (let i = this.head; i < this.items.length; i++) {
      const item = this.items[i];
      if (item) item.dueAtMs = 0;
    }
  }

  /** Delivers every due item the sink accepts; re-evaluates after any fault change. */
  pump(): void {
    if (this.closed) return;
    if (this.env.faults.blackholed) {
      this.clearTimer();
      this.updateSourceFlow();
      return;
    }
    const sink = this.sink;
    if (sink !== undefined) {
      const nowMs = this.env.clock.monotonicMs();
      while (!this.sinkBlocked && this.head < this.items.length) {
        const item = this.items[this.head];
        if (item === undefined) break;
        if (item.dueAtMs > nowMs) {
          this.armTimer(item.dueAtMs - nowMs);
          break;
        }
        this.items[this.head] = undefined;
        this.head++;
        if (item.kind === "reset") {
          this.close();
          this.env.onResetDelivered();
          return;
        }
        if (item.kind === "end") {
          sink.end();
          continue;
        }
        this.bytes -= item.chunk.length;
        this.env.onDelivered(item.chunk.length);
        if (!sink.write(item.chunk)) {
          this.sinkBlocked = true;
          sink.once("drain", () => {
            this.sinkBlocked = false;
            this.pump();
          });
        }
      }
      this.compact();
    }
    this.updateSourceFlow();
  }

  /** The sink is gone or the connection ended: drop everything, stop timers, deliver nothing more. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimer();
    this.items.length = 0;
    this.head = 0;
    this.bytes = 0;
  }

  private dueAtMs(): number {
    return chunkDueAtMs(this.env.clock.monotonicMs(), this.env.faults, this.env.random);
  }

  private updateSourceFlow(): void {
    const source = this.source;
    if (source === undefined || source.destroyed) return;
    const blackholed = this.env.faults.blackholed;
    if (!this.sourcePaused && !blackholed && this.bytes >= this.env.flowWindowBytes) {
      this.sourcePaused = true;
      source.pause();
    } else if (this.sourcePaused && (blackholed || this.bytes <= this.env.flowWindowBytes / 2)) {
      this.sourcePaused = false;
      source.resume();
    }
  }

  private armTimer(waitMs: number): void {
    this.clearTimer();
    // Whole milliseconds, at least 1: a timer may fire a fraction early, and pump re-arms.
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.pump();
      },
      Math.max(1, Math.ceil(waitMs)),
    );
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private compact(): void {
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head >= COMPACT_AFTER_ITEMS && this.head * 2 >= this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
  }
}

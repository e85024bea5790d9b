// The fault state of one proxied link and the pure rules that read it. A FaultProxy owns one
// LinkFaults; every connection on the link holds it by reference, so a change applies to live
// connections and new ones at once.

import type { Random } from "@castle/common";

/** Which way bytes travel through a proxy: client to target, target to client, or both. */
export type FaultDirection = "both" | "toTarget" | "fromTarget";

/** One way through a proxy. */
export type FaultOneWay = "toTarget" | "fromTarget";

/**
 * What a cut does. `blackhole`: bytes are held, undelivered, and the sockets stay open, so each
 * peer sees a hung connection (a silent partition: what a real one looks like). `reset`: every
 * connection is reset and new ones are reset at accept (a fast failure: a crashed host, a
 * firewall that rejects).
 */
export type CutMode = "blackhole" | "reset";

/** Longest delay or jitter a link accepts: longer is a cut, and says so. */
export const LINK_DELAY_MS_MAX = 60_000;

/** The faults on one direction of a link. */
export interface DirectionFaults {
  /** True: bytes in this direction are held until heal (then delivered, in order). */
  blackholed: boolean;
  /** Added to every chunk's delivery time. */
  delayMs: number;
  /** A further [0, jitterMs) drawn per chunk; it never reorders chunks. */
  jitterMs: number;
}

export interface LinkFaults {
  readonly toTarget: DirectionFaults;
  readonly fromTarget: DirectionFaults;
  /** True: connections are reset at accept (a reset-mode cut). */
  refusing: boolean;
}

export function newLinkFaults(): LinkFaults {
  return {
    toTarget: { blackholed: false, delayMs: 0, jitterMs: 0 },
    fromTarget: { blackholed: false, delayMs: 0, jitterMs: 0 },
    refusing: false,
  };
}

/** The one-way directions a direction names. */
export function directionsOf(direction: FaultDirection): readonly FaultOneWay[] {
  switch (direction) {
    case "both":
      return ["toTarget", "fromTarget"];
    case "toTarget":
      return ["toTarget"];
    case "fromTarget":
      return ["fromTarget"];
  }
}

/**
 * When a chunk that arrives at `nowMs` becomes deliverable. Draws from `random` only when the
 * direction has jitter, so a link without jitter leaves the seeded sequence untouched. A chunk
 * still waits for every chunk before it (the pipe is FIFO), so jitter delays but never reorders.
 */
export function chunkDueAtMs(nowMs: number, faults: DirectionFaults, random: Random): number {
  const jitterMs = faults.jitterMs > 0 ? random.next() * faults.jitterMs : 0;
  return nowMs + faults.delayMs + jitterMs;
}

/**
 * True while a new TCP connection could not be established across the link: a blackhole in
 * either direction loses the SYN or the SYN-ACK. The proxy then holds the accepted client and
 * dials the target only after heal, so the target never sees a connection a partition hid.
 */
export function handshakeBlocked(faults: LinkFaults): boolean {
  return faults.toTarget.blackholed || faults.fromTarget.blackholed;
}

/** Plain copy for logs and assertions. */
export function snapshotLinkFaults(faults: LinkFaults): LinkFaults {
  return { toTarget: { ...faults.toTarget }, fromTarget: { ...faults.fromTarget }, refusing: faults.refusing };
}

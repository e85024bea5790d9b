// Converts the core's messages to and from castle.v1.RaftMessage, and validates what comes
// in: the core trusts its inputs (it asserts rather than checks), so every inbound message is
// checked here for shape, integer ranges, sizes and the log invariants an append must obey,
// and anything malformed is turned away with a reason before the core can see it.

import type { WireRaftConfState, WireRaftEntry, WireRaftMessage, WireRaftMessageInput } from "@castle/protocol";
import { type ConfState, type Entry, EntryType, type Message, NO_NODE, type RaftNodeId, type SnapshotMeta } from "../core/types.js";

/** Bounds on one inbound message; a message beyond any of them is refused. */
export interface RaftWireLimits {
  /** Entries in one append. */
  readonly appendEntriesMax: number;
  /** Bytes of one entry's data. */
  readonly entryBytesMax: number;
  /** Bytes of one snapshot chunk. */
  readonly snapshotChunkBytesMax: number;
  /** Characters of a ReadIndex context string. */
  readonly readContextCharsMax: number;
  /** Voters plus observers in a snapshot's configuration. */
  readonly confMembersMax: number;
}

export const DEFAULT_RAFT_WIRE_LIMITS: RaftWireLimits = {
  appendEntriesMax: 10_000,
  entryBytesMax: 8 * 1024 * 1024,
  snapshotChunkBytesMax: 8 * 1024 * 1024,
  readContextCharsMax: 256,
  confMembersMax: 1_000,
};

/** Node ids travel as uint32; 0 is "none". */
const NODE_ID_MAX = 0xffff_ffff;

export function messageToWire(message: Message): WireRaftMessageInput {
  const base = { from: message.from, to: message.to, term: message.term };
  switch (message.type) {
    case "vote":
      return {
        ...base,
        vote: {
          preVote: message.preVote,
          lastLogIndex: message.lastLogIndex,
          lastLogTerm: message.lastLogTerm,
          transfer: message.transfer,
        },
      };
    case "vote-response":
      return { ...base, voteResponse: { preVote: message.preVote, granted: message.granted } };
    case "append":
      return {
        ...base,
        append: {
          prevLogIndex: message.prevLogIndex,
          prevLogTerm: message.prevLogTerm,
          entries: message.entries.map((e) => ({
            term: e.term,
            index: e.index,
            type: e.type === EntryType.ConfChange ? "RAFT_ENTRY_TYPE_CONF_CHANGE" : "RAFT_ENTRY_TYPE_NORMAL",
            data: e.data,
          })),
          commit: message.commit,
          ...(message.readContext !== undefined ? { readContext: message.readContext } : {}),
        },
      };
    case "append-response":
      return {
        ...base,
        appendResponse: {
          success: message.success,
          matchIndex: message.matchIndex,
          rejectHintIndex: message.rejectHintIndex,
          rejectHintTerm: message.rejectHintTerm,
          ...(message.readContext !== undefined ? { readContext: message.readContext } : {}),
        },
      };
    case "snapshot":
      return {
        ...base,
        snapshot: {
          meta: {
            index: message.meta.index,
            term: message.meta.term,
            confState: { voters: [...message.meta.confState.voters], observers: [...message.meta.confState.observers] },
          },
          offset: message.offset,
          chunk: message.chunk,
          done: message.done,
        },
      };
    case "snapshot-response":
      return {
        ...base,
        snapshotResponse: { success: message.success, nextOffset: message.nextOffset, snapshotIndex: message.snapshotIndex },
      };
    case "timeout-now":
      return { ...base, timeoutNow: {} };
  }
}

export type DecodeResult = { readonly ok: true; readonly message: Message } | { readonly ok: false; readonly reason: string };

class Malformed extends Error {}

function fail(reason: string): never {
  throw new Malformed(reason);
}

function uint(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) fail(`${field} must be a non-negative safe integer`);
  return value;
}

function nodeId(value: unknown, field: string): RaftNodeId {
  const id = uint(value, field);
  if (id === NO_NODE || id > NODE_ID_MAX) fail(`${field} must be a node id in [1, ${NODE_ID_MAX}]`);
  return id;
}

function bytes(value: unknown, field: string, max: number): Uint8Array {
  if (!(value instanceof Uint8Array)) fail(`${field} must be bytes`);
  if (value.byteLength > max) fail(`${field} is ${value.byteLength} bytes, more than the ${max} allowed`);
  return value;
}

function readContext(value: unknown, limits: RaftWireLimits): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string" || value.length > limits.readContextCharsMax)
    fail(`readContext must be a string of at most ${limits.readContextCharsMax} characters`);
  return value;
}

function confState(wire: WireRaftConfState | null | undefined, limits: RaftWireLimits): ConfState {
  if (!wire) fail("snapshot meta has no confState");
  if (wire.voters.length + wire.observers.length > limits.confMembersMax) fail(`confState has more than ${limits.confMembersMax} members`);
  const voters = wire.voters.map((id, i) => nodeId(id, `confState.voters[${i}]`));
  const observers = wire.observers.map((id, i) => nodeId(id, `confState.observers[${i}]`));
  const all = new Set([...voters, ...observers]);
  if (all.size !== voters.length + observers.length) fail("confState lists a node twice");
  return { voters, observers };
}

function entries(wire: readonly WireRaftEntry[], prevLogIndex: number, prevLogTerm: number, term: number, limits: RaftWireLimits): Entry[] {
  if (wire.length > limits.appendEntriesMax)
    fail(`append carries ${wire.length} entries, more than the ${limits.appendEntriesMax} allowed`);
  let lastTerm = prevLogTerm;
  return wire.map((e, i) => {
    const index = uint(e.index, `entries[${i}].index`);
    const entryTerm = uint(e.term, `entries[${i}].term`);
    // Log matching (§3.5): an append's entries are consecutive, their terms never decrease, and no
    // entry can come from a term later than the leader's own.
    if (index !== prevLogIndex + 1 + i) fail(`entries[${i}].index is ${index}, expected ${prevLogIndex + 1 + i}`);
    if (entryTerm < lastTerm || entryTerm > term || entryTerm === 0)
      fail(`entries[${i}].term ${entryTerm} is out of order (previous ${lastTerm}, message term ${term})`);
    lastTerm = entryTerm;
    let type: EntryType;
    if (e.type === "RAFT_ENTRY_TYPE_NORMAL") type = EntryType.Normal;
    else if (e.type === "RAFT_ENTRY_TYPE_CONF_CHANGE") type = EntryType.ConfChange;
    else fail(`entries[${i}].type is unknown`);
    return { term: entryTerm, index, type, data: bytes(e.data, `entries[${i}].data`, limits.entryBytesMax) };
  });
}

function snapshotMeta(
  wire: { index: number; term: number; confState: WireRaftConfState | null } | null | undefined,
  limits: RaftWireLimits,
): SnapshotMeta {
  if (!wire) fail("snapshot has no meta");
  const index = uint(wire.index, "meta.index");
  const term = uint(wire.term, "meta.term");
  if (index === 0 || term === 0) fail("snapshot meta index and term must be positive");
  return { index, term, confState: confState(wire.confState, limits) };
}

/** Validates one inbound message and converts it; never throws. */
export function messageFromWire(wire: WireRaftMessage, limits: RaftWireLimits = DEFAULT_RAFT_WIRE_LIMITS): DecodeResult {
  try {
    return { ok: true, message: decode(wire, limits) };
  } catch (error) {
    if (error instanceof Malformed) return { ok: false, reason: error.message };
    return { ok: false, reason: `undecodable message: ${error instanceof Error ? error.message : String(error)}` };
  }
}

function decode(wire: WireRaftMessage, limits: RaftWireLimits): Message {
  const base = { from: nodeId(wire.from, "from"), to: nodeId(wire.to, "to"), term: uint(wire.term, "term") };
  if (base.from === base.to) fail("from and to are the same node");
  switch (wire.body) {
    case "vote": {
      const v = wire.vote ?? fail("vote body missing");
      return {
        ...base,
        type: "vote",
        preVote: v.preVote === true,
        lastLogIndex: uint(v.lastLogIndex, "lastLogIndex"),
        lastLogTerm: uint(v.lastLogTerm, "lastLogTerm"),
        transfer: v.transfer === true,
      };
    }
    case "voteResponse": {
      const v = wire.voteResponse ?? fail("voteResponse body missing");
      return { ...base, type: "vote-response", preVote: v.preVote === true, granted: v.granted === true };
    }
    case "append": {
      const a = wire.append ?? fail("append body missing");
      const prevLogIndex = uint(a.prevLogIndex, "prevLogIndex");
      const prevLogTerm = uint(a.prevLogTerm, "prevLogTerm");
      const context = readContext(a.readContext, limits);
      return {
        ...base,
        type: "append",
        prevLogIndex,
        prevLogTerm,
        entries: entries(a.entries, prevLogIndex, prevLogTerm, base.term, limits),
        commit: uint(a.commit, "commit"),
        ...(context !== undefined ? { readContext: context } : {}),
      };
    }
    case "appendResponse": {
      const a = wire.appendResponse ?? fail("appendResponse body missing");
      const context = readContext(a.readContext, limits);
      return {
        ...base,
        type: "append-response",
        success: a.success === true,
        matchIndex: uint(a.matchIndex, "matchIndex"),
        rejectHintIndex: uint(a.rejectHintIndex, "rejectHintIndex"),
        rejectHintTerm: uint(a.rejectHintTerm, "rejectHintTerm"),
        ...(context !== undefined ? { readContext: context } : {}),
      };
    }
    case "snapshot": {
      const s = wire.snapshot ?? fail("snapshot body missing");
      return {
        ...base,
        type: "snapshot",
        meta: snapshotMeta(s.meta, limits),
        offset: uint(s.offset, "offset"),
        chunk: bytes(s.chunk, "chunk", limits.snapshotChunkBytesMax),
        done: s.done === true,
      };
    }
    case "snapshotResponse": {
      const s = wire.snapshotResponse ?? fail("snapshotResponse body missing");
      return {
        ...base,
        type: "snapshot-response",
        success: s.success === true,
        nextOffset: uint(s.nextOffset, "nextOffset"),
        snapshotIndex: uint(s.snapshotIndex, "snapshotIndex"),
      };
    }
    case "timeoutNow":
      return { ...base, type: "timeout-now" };
    default:
      return fail("message has no body");
  }
}

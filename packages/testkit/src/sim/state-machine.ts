// The simulated application: it remembers every applied command (as text) and a rolling hash
// over every applied entry (index, term, type, data). Two nodes that applied the same entries
// have the same hash at the same index, which is what the state-machine-safety checker and the
// snapshot-restore check compare. Snapshot data is this state, serialised as JSON.

import { type Entry, EntryType } from "@castle/raft";

export interface StateMachineImage {
  readonly index: number;
  readonly term: number;
  readonly hash: number;
  readonly values: readonly string[];
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

export class SimStateMachine {
  index = 0;
  term = 0;
  hash = 0;
  /** Applied commands (non-empty Normal entries), in order. */
  values: string[] = [];

  apply(entry: Entry): void {
    this.index = entry.index;
    this.term = entry.term;
    this.hash = mixEntry(this.hash, entry);
    if (entry.type === EntryType.Normal && entry.data.length > 0) this.values.push(decoder.decode(entry.data));
  }

  image(): StateMachineImage {
    return { index: this.index, term: this.term, hash: this.hash, values: this.values.slice() };
  }

  encode(): Uint8Array {
    return encoder.encode(JSON.stringify(this.image()));
  }

  restore(data: Uint8Array): StateMachineImage {
    const image = decodeImage(data);
    this.index = image.index;
    this.term = image.term;
    this.hash = image.hash;
    this.values = image.values.slice();
    return image;
  }
}

export function decodeImage(data: Uint8Array): StateMachineImage {
  if (data.length === 0) return { index: 0, term: 0, hash: 0, values: [] };
  return JSON.parse(decoder.decode(data)) as StateMachineImage;
}

/** A fingerprint of an entry's content (type and bytes), for comparing entries across nodes. */
export function entryKey(entry: Entry): string {
  return `${entry.type}:${Buffer.from(entry.data.buffer, entry.data.byteOffset, entry.data.byteLength).toString("latin1")}`;
}

/** FNV-1a over (previous hash, index, term, type, data): order-sensitive, deterministic. */
function mixEntry(hash: number, entry: Entry): number {
  let h = (hash ^ 0x811c9dc5) >>> 0;
  h = mix(h, entry.index);
  h = mix(h, entry.term);
  h = mix(h, entry.type);
  for (let i = 0; i < entry.data.length; i++) h = mix(h, entry.data[i]!);
  return h;
}

function mix(h: number, value: number): number {
  let x = h;
  for (let k = 0; k < 4; k++) {
    x ^= (value >>> (8 * k)) & 0xff;
    x = Math.imul(x, 0x01000193) >>> 0;
  }
  return x;
}

// The child's replicated state: the data of every applied entry, in log order, as strings.
// Snapshots are the JSON of that list; EMPTY snapshot data is the bootstrap snapshot, the
// initial empty state (RaftStateMachine's contract). Applying an index twice is a broken
// invariant and stops the node.

import { createHash } from "node:crypto";
import { invariant } from "@castle/common";
import type { Entry, RaftStateMachine } from "@castle/raft";
import type { AppliedSummary } from "./raft-child-protocol.js";

interface ListImage {
  readonly items: string[];
  readonly lastIndex: number;
}

export class RaftListStateMachine implements RaftStateMachine {
  private items: string[] = [];
  private lastIndex = 0;
  private readonly decoder = new TextDecoder();

  apply(entries: readonly Entry[]): void {
    for (const entry of entries) {
      invariant(entry.index > this.lastIndex, () => `entry ${entry.index} applied after ${this.lastIndex}`);
      this.lastIndex = entry.index;
      this.items.push(this.decoder.decode(entry.data));
    }
  }

  async snapshot(): Promise<Uint8Array> {
    const image: ListImage = { items: this.items, lastIndex: this.lastIndex };
    return new TextEncoder().encode(JSON.stringify(image));
  }

  async restore(data: Uint8Array): Promise<void> {
    if (data.byteLength === 0) {
      this.items = [];
      this.lastIndex = 0;
      return;
    }
    const image = JSON.parse(this.decoder.decode(data)) as ListImage;
    invariant(Array.isArray(image.items) && Number.isSafeInteger(image.lastIndex), "malformed list snapshot");
    this.items = image.items;
    this.lastIndex = image.lastIndex;
  }

  /** Count, last applied log index and an order-sensitive hash; the items themselves on request. */
  summary(withItems: boolean): AppliedSummary {
    const hash = createHash("sha256");
    for (const item of this.items) hash.update(`${item.length}:${item}\n`);
    const summary = { count: this.items.length, lastIndex: this.lastIndex, hash: hash.digest("hex") };
    return withItems ? { ...summary, items: [...this.items] } : summary;
  }
}

// Ordered, batched writes to the shared LevelDB index. Appends queue puts synchronously and
// never await LevelDB; a drain writes queued operations as one LevelDB batch. Operations are
// applied in the order they were queued (a range clear queued after a put runs after it), so
// a partition-state write queued after index entries is never visible without them. Writes
// are not synced: the index is rebuildable from the segments, and LevelDB's log loses only a
// suffix of writes in a crash, which recovery detects as a sparser index or an older
// recovery point.

import type { Logger } from "@castle/common";
import { ClassicLevel } from "classic-level";

type IndexOperation = { type: "put"; key: Buffer; value: Buffer } | { type: "del"; key: Buffer };

/** Queued operations that trigger a background drain. */
const DRAIN_OPERATIONS_THRESHOLD = 1024;
/** Operations queued or being written beyond which new index entries are dropped (a sparser index is still correct). */
export const INDEX_OPERATIONS_PENDING_MAX = 1_000_000;

export class IndexStore {
  private queued: IndexOperation[] = [];
  private tail: Promise<void> = Promise.resolve();
  private pendingOperations = 0;
  writeErrorsTotal = 0;
  droppedEntriesTotal = 0;

  private constructor(
    readonly db: ClassicLevel<Buffer, Buffer>,
    private readonly logger: Logger,
  ) {}

  static async open(location: string, logger: Logger): Promise<IndexStore> {
    const db = new ClassicLevel<Buffer, Buffer>(location, { keyEncoding: "buffer", valueEncoding: "buffer" });
    await db.open();
    return new IndexStore(db, logger);
  }

  /** True when an optional write (an index entry) should be skipped to keep memory bounded. */
  get saturated(): boolean {
    return this.pendingOperations >= INDEX_OPERATIONS_PENDING_MAX;
  }

  put(key: Buffer, value: Buffer): void {
    this.queued.push({ type: "put", key, value });
    this.pendingOperations++;
    if (this.queued.length >= DRAIN_OPERATIONS_THRESHOLD) void this.drain();
  }

  /** Queues the deletion of every key in [gte, lt), ordered after everything queued before. */
  clearRange(range: { gte: Buffer; lt: Buffer }): void {
    this.flushQueued();
    this.tail = this.tail.then(() => this.db.clear(range)).catch((error: unknown) => this.handleWriteError(error));
  }

  async get(key: Buffer): Promise<Buffer | undefined> {
    return this.db.get(key);
  }

  /** Every entry in [gte, lt), in key order. Bounded by the range the caller asks for. */
  async entries(range: { gte: Buffer; lt: Buffer }): Promise<Array<[Buffer, Buffer]>> {
    return this.db.iterator(range).all();
  }

  /** Resolves when every operation queued before the call has been written (or has failed and been logged). */
  drain(): Promise<void> {
    this.flushQueued();
    return this.tail;
  }

  async close(): Promise<void> {
    await this.drain();
    await this.db.close();
  }

  private flushQueued(): void {
    if (this.queued.length === 0) return;
    const operations = this.queued;
    this.queued = [];
    this.tail = this.tail
      .then(() => this.db.batch(operations))
      .catch((error: unknown) => this.handleWriteError(error))
      .finally(() => {
        this.pendingOperations -= operations.length;
      });
  }

  private handleWriteError(error: unknown): void {
    this.writeErrorsTotal++;
    this.logger.warn("index write failed; the index will be rebuilt from segments if needed", { error });
  }
}

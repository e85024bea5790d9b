// The durable Raft log: HardState, ConfState, the latest snapshot and the log entries in one
// LevelDB database (format in raft-storage-codec.ts). The core reads synchronously, so the
// log is mirrored in a MemoryRaftStorage; writes go to LevelDB first, in one atomic batch
// (fsynced unless it only moves the commit index, see persist), and only then to the mirror.
// Writes are serialized in call order. Because a commit-only change is not fsynced, the commit
// index on disk can trail the real one after a crash; `corruptTailPolicy: "truncate"` may then
// drop entries that were in fact committed, which is one more reason it is an operator opt-in.
//
// Recovery (open): every value is checked against its CRC32C. LevelDB's own write-ahead log
// makes each batch atomic, so a torn Ready cannot appear; a checksum failure means the disk
// corrupted data after it was written. What to do then depends on where:
// - at or below the persisted commit index: the entry is committed and may exist nowhere else
//   in a degraded cluster; refuse to start (RaftStorageCorruptError names the index);
// - above the persisted commit index: still refuse by default. This node may have
//   acknowledged the entry to a leader that counted it toward a commit our persisted commit
//   index has not caught up with yet; dropping it could then shrink a majority below what the
//   leader relied on and lose a committed entry (Raft's safety assumes acknowledged entries
//   survive). An operator who knows the rest of the quorum holds the entries may open with
//   corruptTailPolicy "truncate", which drops the corrupt entry and everything after it with
//   a warning; the leader then re-replicates them.

import { invariant, type Logger, silentLogger } from "@castle/common";
import { ClassicLevel } from "classic-level";
import { bootstrapSnapshot } from "../core/bootstrap-snapshot.js";
import { MemoryRaftStorage } from "../core/memory-raft-storage.js";
import { type ConfState, type Entry, type HardState, NO_NODE, type RaftLogStorage, type Ready, type Snapshot } from "../core/types.js";
import {
  CorruptValueError,
  decodeConfState,
  decodeEntry,
  decodeFormatVersion,
  decodeHardState,
  decodeSnapshot,
  encodeConfState,
  encodeEntry,
  encodeFormatVersion,
  encodeHardState,
  encodeSnapshot,
  entryKey,
  entryKeyIndex,
  RAFT_STORAGE_FORMAT_VERSION,
  RaftKeyPrefix,
  singletonKey,
} from "./raft-storage-codec.js";

/** The data directory cannot be trusted: the node must not start on it as it is. */
export class RaftStorageCorruptError extends Error {
  override readonly name = "RaftStorageCorruptError";
  constructor(
    message: string,
    readonly dir: string,
    readonly index?: number,
  ) {
    super(message);
  }
}

export type CorruptTailPolicy = "refuse" | "truncate";

export interface LevelDbRaftStorageOptions {
  readonly logger?: Logger;
  /** Membership to record when the directory holds no Raft state yet (first start of a cluster). */
  readonly bootstrap?: ConfState;
  /** What to do with a corrupt entry above the persisted commit index (see the file header). Default "refuse". */
  readonly corruptTailPolicy?: CorruptTailPolicy;
}

type Db = ClassicLevel<Buffer, Buffer>;
type BatchOp = { type: "put"; key: Buffer; value: Buffer } | { type: "del"; key: Buffer };

const ENCODING = { keyEncoding: "buffer", valueEncoding: "buffer" } as const;

export class LevelDbRaftStorage implements RaftLogStorage {
  private writes: Promise<void> = Promise.resolve();
  private closed = false;
  /** Batches written with fsync, and commit-only hard states written without (see persist). */
  syncedBatchesTotal = 0;
  unsyncedBatchesTotal = 0;

  private constructor(
    private readonly db: Db,
    private readonly memory: MemoryRaftStorage,
    readonly dir: string,
    private readonly logger: Logger,
  ) {}

  static async open(dir: string, options: LevelDbRaftStorageOptions = {}): Promise<LevelDbRaftStorage> {
    const logger = (options.logger ?? silentLogger).child({ component: "raft-storage" });
    const db: Db = new ClassicLevel<Buffer, Buffer>(dir, ENCODING);
    try {
      await db.open();
      const memory = await recover(db, dir, options, logger);
      return new LevelDbRaftStorage(db, memory, dir, logger);
    } catch (error) {
      await db.close().catch(() => {});
      throw error;
    }
  }

  // ---- RaftLogStorage: synchronous reads from the mirror ----

  initialState(): { hardState: HardState; confState: ConfState } {
    return this.memory.initialState();
  }
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    return this.memory.entries(lo, hi, maxBytes);
  }
  term(index: number): number | undefined {
    return this.memory.term(index);
  }
  firstIndex(): number {
    return this.memory.firstIndex();
  }
  lastIndex(): number {
    return this.memory.lastIndex();
  }
  snapshot(): Snapshot | undefined {
    return this.memory.snapshot();
  }
  get hardState(): HardState {
    return this.memory.hardState;
  }
  get confState(): ConfState {
    return this.memory.confState;
  }

  // ---- durable writes ----

  /**
   * Step 1 of the Ready contract: the snapshot (replacing the whole log), then the entries
   * (truncating any stored suffix from entries[0].index), then the hard state, in one
   * LevelDB batch, fsynced unless it only moves commit. Resolves once written; the mirror the
   * core reads is updated after that.
   */
  persist(ready: Pick<Ready, "snapshot" | "entries" | "hardState">): Promise<void> {
    return this.enqueue(async () => {
      const ops: BatchOp[] = [];
      const snapshot = ready.snapshot;
      let compacted = this.memory.firstIndex() - 1;
      let last = this.memory.lastIndex();
      if (snapshot) {
        invariant(snapshot.meta.index >= compacted, () => `snapshot ${snapshot.meta.index} is older than the log start ${compacted}`);
        for (let i = compacted + 1; i <= last; i++) ops.push({ type: "del", key: entryKey(i) });
        ops.push({ type: "put", key: singletonKey(RaftKeyPrefix.Snapshot), value: encodeSnapshot(snapshot) });
        ops.push({ type: "put", key: singletonKey(RaftKeyPrefix.ConfState), value: encodeConfState(snapshot.meta.confState) });
        compacted = snapshot.meta.index;
        last = compacted;
      }
      const fresh = ready.entries.filter((e) => e.index > compacted);
      const first = fresh[0];
      if (first) {
        invariant(first.index <= last + 1, () => `append at ${first.index} leaves a gap after ${last}`);
        const newLast = first.index + fresh.length - 1;
        for (let i = newLast + 1; i <= last; i++) ops.push({ type: "del", key: entryKey(i) });
        for (const entry of fresh) ops.push({ type: "put", key: entryKey(entry.index), value: encodeEntry(entry) });
      }
      if (ready.hardState) ops.push({ type: "put", key: singletonKey(RaftKeyPrefix.HardState), value: encodeHardState(ready.hardState) });
      if (ops.length === 0) return;
      // fsync only what Raft needs durable before answering: a snapshot, entries, or a new term
      // or vote. A hard state that only moves the commit index is written without it, as etcd
      // does: commit is volatile in Raft (§3.8) and a restarted node relearns it from the leader;
      // the next synced batch makes it durable anyway (LevelDB's log is sequential).
      const previous = this.memory.hardState;
      const needsSync =
        snapshot !== undefined ||
        fresh.length > 0 ||
        (ready.hardState !== undefined && (ready.hardState.term !== previous.term || ready.hardState.vote !== previous.vote));
      await this.db.batch(ops, { sync: needsSync });
      if (needsSync) this.syncedBatchesTotal++;
      else this.unsyncedBatchesTotal++;
      if (snapshot) this.memory.applySnapshot(snapshot);
      if (fresh.length > 0) this.memory.append(fresh);
      if (ready.hardState) this.memory.setHardState(ready.hardState);
    });
  }

  /**
   * Records the state machine's snapshot at `snapshot.meta.index` (≤ commit; the entry must
   * still be in the log and its term must match). The log is kept until compact().
   */
  saveSnapshot(snapshot: Snapshot): Promise<void> {
    return this.enqueue(async () => {
      const { index, term, confState } = snapshot.meta;
      invariant(this.memory.term(index) === term, () => `snapshot at ${index} has term ${term}, the log says ${this.memory.term(index)}`);
      await this.db.batch(
        [
          { type: "put", key: singletonKey(RaftKeyPrefix.Snapshot), value: encodeSnapshot(snapshot) },
          { type: "put", key: singletonKey(RaftKeyPrefix.ConfState), value: encodeConfState(confState) },
        ],
        { sync: true },
      );
      // Disk first, as everywhere here: the core may send this snapshot once it sees it.
      this.memory.createSnapshot(index, confState, snapshot.data);
    });
  }

  /** Deletes entries ≤ index; the latest snapshot must cover index. */
  compact(index: number): Promise<void> {
    return this.enqueue(async () => {
      const compacted = this.memory.firstIndex() - 1;
      if (index <= compacted) return;
      const snapshotIndex = this.memory.snapshot()?.meta.index ?? 0;
      invariant(index <= snapshotIndex, () => `compact(${index}) beyond snapshot ${snapshotIndex}`);
      const ops: BatchOp[] = [];
      for (let i = compacted + 1; i <= index; i++) ops.push({ type: "del", key: entryKey(i) });
      // No sync needed: losing a deletion in a crash leaves entries that open() drops again.
      await this.db.batch(ops);
      this.memory.compact(index);
    });
  }

  /** Waits for queued writes, then closes the database. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writes.catch(() => {});
    await this.db.close();
  }

  private enqueue(write: () => Promise<void>): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`Raft storage in ${this.dir} is closed`));
    const result = this.writes.then(write);
    // A failed write leaves disk and mirror possibly apart: every later write fails too.
    this.writes = result.catch((error: unknown) => {
      this.logger.error("Raft storage write failed; refusing further writes", { error });
      this.closed = true;
      throw error;
    });
    return result;
  }
}

async function recover(db: Db, dir: string, options: LevelDbRaftStorageOptions, logger: Logger): Promise<MemoryRaftStorage> {
  const read = async <T>(prefix: Exclude<RaftKeyPrefix, RaftKeyPrefix.Entry>, decode: (v: Uint8Array) => T): Promise<T | undefined> => {
    const value = await db.get(singletonKey(prefix));
    if (value === undefined) return undefined;
    try {
      return decode(value);
    } catch (error) {
      if (error instanceof CorruptValueError) throw new RaftStorageCorruptError(`Raft storage in ${dir} is corrupt: ${error.message}`, dir);
      throw error;
    }
  };
  const version = await read(RaftKeyPrefix.FormatVersion, decodeFormatVersion);
  if (version !== undefined && version !== RAFT_STORAGE_FORMAT_VERSION) {
    throw new RaftStorageCorruptError(
      `Raft storage in ${dir} has format version ${version}; this build reads ${RAFT_STORAGE_FORMAT_VERSION}`,
      dir,
    );
  }
  let hardState = await read(RaftKeyPrefix.HardState, decodeHardState);
  let confState = await read(RaftKeyPrefix.ConfState, decodeConfState);
  let snapshot = await read(RaftKeyPrefix.Snapshot, decodeSnapshot);
  let compacted = snapshot?.meta.index ?? 0;
  const commit = hardState?.commit ?? 0;
  const policy = options.corruptTailPolicy ?? "refuse";

  const entries: Entry[] = [];
  const stale: Buffer[] = [];
  let truncateFrom: number | undefined;
  for await (const [key, value] of db.iterator({ gte: entryKey(0), lte: entryKey(Number.MAX_SAFE_INTEGER) })) {
    const index = entryKeyIndex(key);
    if (truncateFrom !== undefined) {
      stale.push(key);
      continue;
    }
    // Entries the snapshot covers (saveSnapshot without a later compact) are dropped here.
    if (index <= compacted) {
      stale.push(key);
      continue;
    }
    const expected = compacted + 1 + entries.length;
    if (index !== expected) {
      throw new RaftStorageCorruptError(
        `Raft storage in ${dir} is corrupt: log entry ${expected} is missing (next is ${index})`,
        dir,
        expected,
      );
    }
    let entry: Entry;
    try {
      entry = decodeEntry(value, index);
    } catch (error) {
      if (!(error instanceof CorruptValueError)) throw error;
      if (index <= commit || policy === "refuse") {
        const where =
          index <= commit ? `at or below the commit index ${commit}` : `above the commit index ${commit}; it may have been acknowledged`;
        throw new RaftStorageCorruptError(`Raft storage in ${dir} is corrupt: ${error.message}, ${where}`, dir, index);
      }
      logger.warn("corrupt Raft log entry above the commit index; truncating the log from it", { index, commit, reason: error.message });
      truncateFrom = index;
      stale.push(key);
      continue;
    }
    const previousTerm = entries.at(-1)?.term ?? snapshot?.meta.term ?? 0;
    if (entry.term < previousTerm) {
      throw new RaftStorageCorruptError(
        `Raft storage in ${dir} is corrupt: log entry ${index} has term ${entry.term} below ${previousTerm}`,
        dir,
        index,
      );
    }
    entries.push(entry);
  }

  const ops: BatchOp[] = stale.map((key) => ({ type: "del", key }));
  if (version === undefined)
    ops.push({ type: "put", key: singletonKey(RaftKeyPrefix.FormatVersion), value: encodeFormatVersion(RAFT_STORAGE_FORMAT_VERSION) });
  const empty = hardState === undefined && snapshot === undefined && entries.length === 0 && confState === undefined;
  if (empty && options.bootstrap) {
    // A new cluster starts from a snapshot holding its membership (see bootstrap-snapshot.ts).
    snapshot = bootstrapSnapshot(options.bootstrap);
    confState = snapshot.meta.confState;
    hardState = { term: snapshot.meta.term, vote: NO_NODE, commit: snapshot.meta.index };
    compacted = snapshot.meta.index;
    ops.push({ type: "put", key: singletonKey(RaftKeyPrefix.Snapshot), value: encodeSnapshot(snapshot) });
    ops.push({ type: "put", key: singletonKey(RaftKeyPrefix.HardState), value: encodeHardState(hardState) });
    ops.push({ type: "put", key: singletonKey(RaftKeyPrefix.ConfState), value: encodeConfState(confState) });
    logger.info("bootstrapped Raft storage", { voters: confState.voters, observers: confState.observers });
  }
  if (ops.length > 0) await db.batch(ops, { sync: true });
  logger.info("opened Raft storage", {
    dir,
    firstIndex: compacted + 1,
    lastIndex: compacted + entries.length,
    term: hardState?.term ?? 0,
    commit,
    snapshotIndex: compacted,
  });
  return new MemoryRaftStorage({
    ...(hardState ? { hardState } : {}),
    ...(confState ? { confState } : {}),
    ...(snapshot ? { snapshot } : {}),
    entries,
  });
}

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { ClassicLevel } from "classic-level";
import { type Entry, EntryType, type Snapshot } from "../../src/core/types.js";
import { LevelDbRaftStorage, RaftStorageCorruptError } from "../../src/storage/leveldb-raft-storage.js";
import { encodeEntry, entryKey } from "../../src/storage/raft-storage-codec.js";

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const entry = (index: number, term: number, data = `e${index}t${term}`): Entry => ({
  index,
  term,
  type: EntryType.Normal,
  data: bytes(data),
});
const range = (lo: number, hi: number, term: number): Entry[] => Array.from({ length: hi - lo + 1 }, (_, i) => entry(lo + i, term));
const noMessages = { committedEntries: [], messages: [], readStates: [] };

describe("LevelDbRaftStorage", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "castle-raft-storage-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const reopen = (storage: LevelDbRaftStorage): Promise<LevelDbRaftStorage> => storage.close().then(() => LevelDbRaftStorage.open(dir));

  it("bootstraps a new cluster from a snapshot holding its membership, once", async () => {
    const storage = await LevelDbRaftStorage.open(dir, { bootstrap: { voters: [1, 2, 3], observers: [4] } });
    expect(storage.firstIndex(), "the log starts after the bootstrap snapshot").to.equal(2);
    expect(storage.lastIndex()).to.equal(1);
    expect(storage.term(1)).to.equal(1);
    expect(storage.snapshot()?.meta).to.deep.equal({ index: 1, term: 1, confState: { voters: [1, 2, 3], observers: [4] } });
    expect(storage.initialState()).to.deep.equal({
      hardState: { term: 1, vote: 0, commit: 1 },
      confState: { voters: [1, 2, 3], observers: [4] },
    });
    const again = await reopen(storage);
    expect(again.confState).to.deep.equal({ voters: [1, 2, 3], observers: [4] });
    await again.close();
  });

  it("round-trips entries, hard state and entry types across close and reopen", async () => {
    let storage = await LevelDbRaftStorage.open(dir);
    const entries = [...range(1, 5, 1), { index: 6, term: 2, type: EntryType.ConfChange, data: new Uint8Array([1, 1, 0, 0, 0, 4]) }];
    await storage.persist({ ...noMessages, entries, hardState: { term: 2, vote: 3, commit: 4 } });
    storage = await reopen(storage);
    expect(storage.hardState).to.deep.equal({ term: 2, vote: 3, commit: 4 });
    expect(storage.lastIndex()).to.equal(6);
    expect(storage.entries(1, 7, Number.MAX_SAFE_INTEGER)).to.deep.equal(entries);
    expect(storage.term(6)).to.equal(2);
    await storage.close();
  });

  it("truncates a conflicting suffix, on disk too", async () => {
    let storage = await LevelDbRaftStorage.open(dir);
    await storage.persist({ entries: range(1, 10, 1), hardState: { term: 1, vote: 1, commit: 3 } });
    await storage.persist({ entries: range(5, 6, 2), hardState: { term: 2, vote: 2, commit: 3 } });
    expect(storage.lastIndex()).to.equal(6);
    storage = await reopen(storage);
    expect(storage.lastIndex()).to.equal(6);
    expect(storage.entries(1, 7, Number.MAX_SAFE_INTEGER).map((e) => e.term)).to.deep.equal([1, 1, 1, 1, 2, 2]);
    await storage.close();
  });

  it("keeps a snapshot and its compaction across a restart", async () => {
    let storage = await LevelDbRaftStorage.open(dir, { bootstrap: { voters: [1], observers: [] } });
    await storage.persist({ entries: range(1, 20, 3), hardState: { term: 3, vote: 1, commit: 15 } });
    const snapshot: Snapshot = { meta: { index: 12, term: 3, confState: { voters: [1, 2], observers: [] } }, data: bytes("state@12") };
    await storage.saveSnapshot(snapshot);
    await storage.compact(12);
    expect(storage.firstIndex()).to.equal(13);
    storage = await reopen(storage);
    expect(storage.snapshot()).to.deep.equal(snapshot);
    expect(storage.firstIndex()).to.equal(13);
    expect(storage.lastIndex()).to.equal(20);
    expect(storage.term(12)).to.equal(3);
    expect(storage.term(11)).to.equal(undefined);
    expect(storage.confState).to.deep.equal({ voters: [1, 2], observers: [] });
    await storage.close();
  });

  it("drops entries a saved snapshot covers when reopened without a compaction", async () => {
    let storage = await LevelDbRaftStorage.open(dir);
    await storage.persist({ entries: range(1, 8, 1), hardState: { term: 1, vote: 1, commit: 8 } });
    await storage.saveSnapshot({ meta: { index: 5, term: 1, confState: { voters: [1], observers: [] } }, data: bytes("s") });
    storage = await reopen(storage);
    expect([storage.firstIndex(), storage.lastIndex()]).to.deep.equal([6, 8]);
    await storage.close();
  });

  it("replaces the whole log with a snapshot from a Ready (a follower installing one)", async () => {
    let storage = await LevelDbRaftStorage.open(dir);
    await storage.persist({ entries: range(1, 5, 1), hardState: { term: 1, vote: 0, commit: 2 } });
    const snapshot: Snapshot = { meta: { index: 50, term: 4, confState: { voters: [1, 2, 3], observers: [] } }, data: bytes("big") };
    await storage.persist({ snapshot, entries: range(51, 52, 4), hardState: { term: 4, vote: 0, commit: 50 } });
    storage = await reopen(storage);
    expect([storage.firstIndex(), storage.lastIndex()]).to.deep.equal([51, 52]);
    expect(storage.term(50)).to.equal(4);
    expect(storage.snapshot()?.data).to.deep.equal(bytes("big"));
    await storage.close();
  });

  it("has every Ready on disk when persist resolves (read back by a second handle)", async () => {
    const storage = await LevelDbRaftStorage.open(dir);
    for (let i = 1; i <= 20; i++) {
      await storage.persist({ entries: [entry(i, 1)], hardState: { term: 1, vote: 1, commit: i - 1 } });
      // The mirror only moves after the write: what the core reads is always on disk.
      expect(storage.lastIndex(), `after Ready ${i}`).to.equal(i);
    }
    await storage.close();
    const raw = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: "buffer", valueEncoding: "buffer" });
    const keys = await raw.keys({ gte: entryKey(0), lte: entryKey(1000) }).all();
    await raw.close();
    expect(keys.length).to.equal(20);
  });

  it("fsyncs entries, snapshots and term/vote changes, but not a hard state that only moves commit", async () => {
    let storage = await LevelDbRaftStorage.open(dir);
    const cases: Array<[string, Parameters<LevelDbRaftStorage["persist"]>[0], "synced" | "unsynced"]> = [
      ["entries", { entries: [entry(1, 1)] }, "synced"],
      ["a new term", { entries: [], hardState: { term: 1, vote: 0, commit: 0 } }, "synced"],
      ["a vote", { entries: [], hardState: { term: 1, vote: 2, commit: 0 } }, "synced"],
      ["commit only", { entries: [], hardState: { term: 1, vote: 2, commit: 1 } }, "unsynced"],
      ["entries and commit", { entries: [entry(2, 1)], hardState: { term: 1, vote: 2, commit: 2 } }, "synced"],
    ];
    for (const [what, ready, expected] of cases) {
      const before = [storage.syncedBatchesTotal, storage.unsyncedBatchesTotal];
      await storage.persist(ready);
      const after = [storage.syncedBatchesTotal, storage.unsyncedBatchesTotal];
      expect(after, what).to.deep.equal(expected === "synced" ? [(before[0] ?? 0) + 1, before[1]] : [before[0], (before[1] ?? 0) + 1]);
    }
    storage = await reopen(storage);
    expect(storage.hardState, "a clean close keeps the unsynced commit too").to.deep.equal({ term: 1, vote: 2, commit: 2 });
    await storage.close();
  });

  it("serializes concurrent writes in call order", async () => {
    const storage = await LevelDbRaftStorage.open(dir);
    await Promise.all([
      storage.persist({ entries: range(1, 3, 1) }),
      storage.persist({ entries: range(4, 6, 1) }),
      storage.persist({ entries: range(3, 3, 2), hardState: { term: 2, vote: 0, commit: 0 } }),
    ]);
    expect(storage.lastIndex()).to.equal(3);
    expect(storage.term(3)).to.equal(2);
    await storage.close();
  });

  describe("corruption", () => {
    async function corrupt(index: number): Promise<void> {
      const raw = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: "buffer", valueEncoding: "buffer" });
      const value = encodeEntry(entry(index, 1));
      value[value.length - 1] = (value[value.length - 1] ?? 0) ^ 0xff;
      await raw.put(entryKey(index), value);
      await raw.close();
    }
    async function seed(): Promise<void> {
      const storage = await LevelDbRaftStorage.open(dir);
      await storage.persist({ entries: range(1, 10, 1), hardState: { term: 1, vote: 1, commit: 6 } });
      await storage.close();
    }

    it("refuses to open on a corrupt committed entry, naming its index", async () => {
      await seed();
      await corrupt(4);
      const error = await LevelDbRaftStorage.open(dir).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(RaftStorageCorruptError);
      expect((error as RaftStorageCorruptError).index).to.equal(4);
      expect((error as Error).message).to.match(/log entry 4 fails its CRC32C.*at or below the commit index 6/);
    });

    it("refuses by default on a corrupt entry above the commit index", async () => {
      await seed();
      await corrupt(8);
      const error = await LevelDbRaftStorage.open(dir).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(RaftStorageCorruptError);
      expect((error as Error).message).to.match(/log entry 8 .*may have been acknowledged/);
    });

    it("truncates from a corrupt entry above the commit index when told to", async () => {
      await seed();
      await corrupt(8);
      const storage = await LevelDbRaftStorage.open(dir, { corruptTailPolicy: "truncate" });
      expect(storage.lastIndex()).to.equal(7);
      const again = await reopen(storage);
      expect(again.lastIndex(), "the truncation is durable").to.equal(7);
      await again.close();
    });

    it("detects a missing entry in the middle of the log", async () => {
      await seed();
      const raw = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: "buffer", valueEncoding: "buffer" });
      await raw.del(entryKey(5));
      await raw.close();
      const error = await LevelDbRaftStorage.open(dir).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((error as Error).message).to.match(/log entry 5 is missing/);
    });
  });

  it("pins the entry value format (golden bytes)", () => {
    const value = encodeEntry({ index: 7, term: 2, type: EntryType.ConfChange, data: new Uint8Array([0xab]) });
    expect(Buffer.from(value).toString("hex")).to.equal("444b4597" + "0000000000000007" + "0000000000000002" + "01" + "ab");
    expect(Buffer.from(entryKey(258)).toString("hex")).to.equal("050000000000000102");
  });
});

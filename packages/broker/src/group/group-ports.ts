// What the group coordinator needs from the node, as ports, so the coordinator stays a
// transport- and storage-agnostic core that tests drive with fakes and a manual clock.

/** One record of the internal topic __consumer_offsets: a key and a value (null = tombstone). */
export interface OffsetsLogRecord {
  readonly key: Buffer;
  readonly value: Buffer | null;
}

/** The partitions of __consumer_offsets this node leads, seen as a log of key/value records. */
export interface OffsetsLog {
  /**
   * Appends `records` as one batch to `partition` with acks=all and resolves once the high
   * watermark covers them (committed on every in-sync replica). Rejects with a ProtocolError:
   * NOT_COORDINATOR when this node no longer leads the partition, REQUEST_TIMED_OUT or
   * NOT_ENOUGH_REPLICAS when it cannot be replicated in time.
   */
  append(partition: number, records: readonly OffsetsLogRecord[]): Promise<void>;
  /**
   * Every record of `partition` from its log start up to its high watermark when called, in
   * log order (what a new coordinator replays to rebuild its groups).
   */
  readAll(partition: number): AsyncIterable<OffsetsLogRecord>;
}

export type TimerHandle = unknown;

/** Timers as a port (session and rebalance timeouts); tests substitute a manual one. */
export interface Timers {
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemTimers: Timers = {
  setTimeout: (callback, ms) => {
    const handle = setTimeout(callback, ms);
    handle.unref();
    return handle;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

// Where long-polling fetches wait (Kafka's delayed-fetch purgatory). A fetch that has fewer
// than min.bytes parks here keyed by the partitions it reads; an append to one of them
// re-runs its check, and a timer completes it at max.wait.ms. Bounded by waitersMax: past
// that, a fetch is answered at once with what is there (never an error).

export type WatchKey = string;

export const partitionKey = (topic: string, partition: number): WatchKey => `${topic}\u0000${partition}`;

interface Waiter {
  keys: readonly WatchKey[];
  isSatisfied: () => boolean;
  resolve: (parked: boolean) => void;
  timer: NodeJS.Timeout;
}

export class FetchPurgatory {
  private readonly byKey = new Map<WatchKey, Set<Waiter>>();
  private waiters = 0;
  private closed = false;
  private readonly closeListeners: (() => void)[] = [];

  constructor(private readonly waitersMax: number) {}

  get parked(): number {
    return this.waiters;
  }

  /**
   * Resolves true when isSatisfied() turns true after a notify on one of `keys`, or after
   * waitMs; resolves false at once when it does not park (nothing to wait on, or full).
   */
  wait(keys: readonly WatchKey[], waitMs: number, isSatisfied: () => boolean): Promise<boolean> {
    if (this.closed || waitMs <= 0 || keys.length === 0 || this.waiters >= this.waitersMax) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        keys,
        isSatisfied,
        resolve: () => {},
        timer: setTimeout(() => this.complete(waiter), waitMs),
      };
      waiter.resolve = resolve;
      this.waiters++;
      for (const key of keys) {
        let set = this.byKey.get(key);
        if (!set) {
          set = new Set();
          this.byKey.set(key, set);
        }
        set.add(waiter);
      }
    });
  }

  /** Called after an append (or anything else that may satisfy a waiting fetch). */
  notify(key: WatchKey): void {
    const set = this.byKey.get(key);
    if (!set) return;
    // Called on every append: no copy of the set (deleting the entry being visited is safe in a
    // Set's iteration, and complete() only resolves promises, so nothing is added meanwhile).
    for (const waiter of set) {
      if (waiter.isSatisfied()) this.complete(waiter);
    }
  }

  /** Completes every waiter and parks no more (shutdown); then tells the onClose listeners. */
  completeAll(): void {
    if (this.closed) return;
    this.closed = true;
    for (const set of [...this.byKey.values()]) for (const waiter of [...set]) this.complete(waiter);
    for (const listener of this.closeListeners.splice(0)) listener();
  }

  /**
   * Calls `listener` once when completeAll closes this purgatory, or at once if it is closed:
   * whatever serves long-polls from it (streams of fetches) ends with it.
   */
  onClose(listener: () => void): void {
    if (this.closed) listener();
    else this.closeListeners.push(listener);
  }

  private complete(waiter: Waiter): void {
    clearTimeout(waiter.timer);
    let removed = false;
    for (const key of waiter.keys) {
      const set = this.byKey.get(key);
      if (set?.delete(waiter)) removed = true;
      if (set && set.size === 0) this.byKey.delete(key);
    }
    if (removed) {
      this.waiters--;
      waiter.resolve(true);
    }
  }
}

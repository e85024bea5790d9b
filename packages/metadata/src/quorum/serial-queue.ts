// A bounded queue that runs async tasks one at a time, in arrival order: the controller's
// "one decision at a time" rule, made structural. A task's failure rejects only its caller.

export class SerialQueue {
  private tail: Promise<void> = Promise.resolve();
  private queued = 0;

  constructor(readonly queuedMax: number) {}

  /** Tasks accepted and not yet settled (the running one included). */
  get length(): number {
    return this.queued;
  }

  get isFull(): boolean {
    return this.queued >= this.queuedMax;
  }

  /** Runs `task` after every earlier task settled. The caller checks isFull first. */
  run<T>(task: () => Promise<T>): Promise<T> {
    this.queued++;
    const result = this.tail.then(task).finally(() => {
      this.queued--;
    });
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

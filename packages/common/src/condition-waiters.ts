// Callers waiting for a condition of some object's state: each waiter's check runs at once and
// again on every notify(), and the wait ends when the check says done or failed, or at its
// timeout. For state that changes on events (a broker's registration, logs opened for an image),
// not for polling.

/** What a check says: `true` = done, an Error = failed for good, anything else = keep waiting. */
export type ConditionCheck = () => true | Error | undefined;

export class ConditionWaiters {
  private readonly checks = new Set<() => void>();

  /** Resolves once `check` returns true; rejects with its Error, or with `timeoutError()` after timeoutMs. */
  wait(check: ConditionCheck, timeoutMs: number, timeoutError: () => Error): Promise<void> {
    const now = check();
    if (now === true) return Promise.resolve();
    if (now instanceof Error) return Promise.reject(now);
    return new Promise((resolve, reject) => {
      const finish = (error?: Error): void => {
        clearTimeout(timer);
        this.checks.delete(recheck);
        if (error) reject(error);
        else resolve();
      };
      const recheck = (): void => {
        const result = check();
        if (result === true) finish();
        else if (result instanceof Error) finish(result);
      };
      const timer = setTimeout(() => finish(timeoutError()), timeoutMs);
      this.checks.add(recheck);
    });
  }

  /** Re-runs every waiting check (call after the state they look at changed). */
  notify(): void {
    for (const recheck of [...this.checks]) recheck();
  }
}

// The simulator's only notion of time: a priority queue of events ordered by (time, sequence).
// The sequence number breaks ties in insertion order, so two events at the same instant always
// run in the same order for the same seed (no dependence on heap internals or wall time).

export interface SimEvent {
  readonly timeMs: number;
  readonly sequence: number;
  readonly run: () => void;
}

/** A binary min-heap of events; `eventsMax` bounds it so a runaway schedule fails loudly. */
export class EventQueue {
  private readonly heap: SimEvent[] = [];
  private sequenceNext = 0;
  constructor(private readonly eventsMax = 1_000_000) {}

  get size(): number {
    return this.heap.length;
  }

  push(timeMs: number, run: () => void): void {
    if (this.heap.length >= this.eventsMax) throw new Error(`event queue over ${this.eventsMax} events`);
    const event: SimEvent = { timeMs, sequence: this.sequenceNext++, run };
    const heap = this.heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent]!;
      if (!before(event, p)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = event;
  }

  peekTimeMs(): number | undefined {
    return this.heap[0]?.timeMs;
  }

  pop(): SimEvent | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    let i = 0;
    const n = heap.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let child = l;
      if (r < n && before(heap[r]!, heap[l]!)) child = r;
      if (!before(heap[child]!, last)) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
    return top;
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.timeMs < b.timeMs || (a.timeMs === b.timeMs && a.sequence < b.sequence);
}

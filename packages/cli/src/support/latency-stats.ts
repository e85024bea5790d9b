// Latency percentiles for the perf commands, on an HdrHistogram in microseconds.

import * as hdr from "hdr-histogram-js";

export interface LatencySummary {
  avgMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

export class LatencyStats {
  private readonly histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  });
  private windowCount = 0;
  private windowTotalMs = 0;

  recordMs(latencyMs: number): void {
    this.histogram.recordValue(Math.max(1, Math.round(latencyMs * 1000)));
    this.windowCount++;
    this.windowTotalMs += latencyMs;
  }

  /** Average since the last call (for progress lines). */
  takeWindowAvgMs(): number {
    const avg = this.windowCount === 0 ? 0 : this.windowTotalMs / this.windowCount;
    this.windowCount = 0;
    this.windowTotalMs = 0;
    return avg;
  }

  summary(): LatencySummary {
    const ms = (us: number) => Math.round(us) / 1000;
    const h = this.histogram;
    return {
      avgMs: ms(h.mean),
      p50Ms: ms(h.getValueAtPercentile(50)),
      p95Ms: ms(h.getValueAtPercentile(95)),
      p99Ms: ms(h.getValueAtPercentile(99)),
      p999Ms: ms(h.getValueAtPercentile(99.9)),
      maxMs: ms(h.maxValue),
    };
  }
}

/** A progress line on stderr: rewritten in place on a terminal, one line per interval otherwise. */
export class ProgressLine {
  private readonly tty = process.stderr.isTTY === true;
  private lastLength = 0;
  readonly intervalMs = this.tty ? 500 : 5000;

  update(text: string): void {
    if (this.tty) {
      process.stderr.write(`\r${text.padEnd(this.lastLength)}`);
      this.lastLength = text.length;
    } else {
      process.stderr.write(`${text}\n`);
    }
  }

  done(): void {
    if (this.tty && this.lastLength > 0) process.stderr.write("\n");
    this.lastLength = 0;
  }
}

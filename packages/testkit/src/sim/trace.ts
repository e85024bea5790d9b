// The simulation's flight recorder: a bounded ring of what happened, formatted only when
// someone reads it (a failure report or a verbose run), so recording stays cheap enough to do
// for every message of every seed.
//
// Lines read like `t=123 n2 -> n3 append term=4 prev=17/3 n=2 commit=16`.

import type { Message, RaftNodeId } from "@castle/raft";

type TraceRecord =
  | { readonly kind: "text"; readonly timeMs: number; readonly node: RaftNodeId; readonly text: string }
  | { readonly kind: "message"; readonly timeMs: number; readonly message: Message; readonly fate: string };

export class Trace {
  private readonly ring: Array<TraceRecord | undefined>;
  private next = 0;
  private count = 0;
  /**
   * @param linesMax how many recent records to keep for a failure report
   * @param sink when set, every record is also formatted and written at once (verbose runs)
   */
  constructor(
    private readonly linesMax = 400,
    private readonly sink?: (line: string) => void,
  ) {
    this.ring = new Array<TraceRecord | undefined>(linesMax);
  }

  /** A node-level event (role change, crash, snapshot...). Node 0 means the simulator itself. */
  event(timeMs: number, node: RaftNodeId, text: string): void {
    this.record({ kind: "text", timeMs, node, text });
  }

  /** A message delivered (fate "") or lost on the way (fate says why: "dropped", "partitioned", "down"). */
  message(timeMs: number, message: Message, fate = ""): void {
    this.record({ kind: "message", timeMs, message, fate });
  }

  /** The last `n` lines, oldest first. */
  lines(n = this.linesMax): string[] {
    const kept = Math.min(this.count, this.linesMax, n);
    const out: string[] = [];
    for (let i = kept; i > 0; i--) {
      const record = this.ring[(this.next - i + this.linesMax) % this.linesMax];
      if (record !== undefined) out.push(formatRecord(record));
    }
    return out;
  }

  private record(record: TraceRecord): void {
    this.ring[this.next] = record;
    this.next = (this.next + 1) % this.linesMax;
    this.count++;
    if (this.sink !== undefined) this.sink(formatRecord(record));
  }
}

function formatRecord(record: TraceRecord): string {
  if (record.kind === "text") return `t=${record.timeMs} ${record.node === 0 ? "sim" : `n${record.node}`} ${record.text}`;
  const m = record.message;
  const arrow = record.fate === "" ? "->" : "-x";
  const fate = record.fate === "" ? "" : ` (${record.fate})`;
  return `t=${record.timeMs} n${m.from} ${arrow} n${m.to} ${formatMessage(m)}${fate}`;
}

/** One message on one line, etcd-style: type, term, then the fields that matter for that type. */
export function formatMessage(m: Message): string {
  switch (m.type) {
    case "vote":
      return `${m.preVote ? "pre-vote" : "vote"} term=${m.term} last=${m.lastLogIndex}/${m.lastLogTerm}${m.transfer ? " transfer" : ""}`;
    case "vote-response":
      return `${m.preVote ? "pre-vote-resp" : "vote-resp"} term=${m.term} ${m.granted ? "granted" : "rejected"}`;
    case "append": {
      const read = m.readContext === undefined ? "" : ` read=${m.readContext}`;
      const last = m.entries[m.entries.length - 1];
      const range = last === undefined ? "" : ` [${m.entries[0]?.index}..${last.index}]@${last.term}`;
      return `append term=${m.term} prev=${m.prevLogIndex}/${m.prevLogTerm} n=${m.entries.length}${range} commit=${m.commit}${read}`;
    }
    case "append-response": {
      const read = m.readContext === undefined ? "" : ` read=${m.readContext}`;
      return m.success
        ? `append-resp term=${m.term} ok match=${m.matchIndex}${read}`
        : `append-resp term=${m.term} reject hint=${m.rejectHintIndex}/${m.rejectHintTerm}${read}`;
    }
    case "snapshot":
      return `snapshot term=${m.term} snap=${m.meta.index}/${m.meta.term} off=${m.offset} len=${m.chunk.length}${m.done ? " done" : ""}`;
    case "snapshot-response":
      return `snapshot-resp term=${m.term} ${m.success ? "ok" : "fail"} next=${m.nextOffset} snap=${m.snapshotIndex}`;
    case "timeout-now":
      return `timeout-now term=${m.term}`;
  }
}

// Follows a child process's output line by line, keeping the last few lines for error messages.

import type { Readable } from "node:stream";

/** Lines kept for "last output" in start-up failures. */
export const OUTPUT_TAIL_LINES_MAX = 20;

/** Calls onLine for each complete line of `stream`; returns the rolling tail of recent lines. */
export function followLines(stream: Readable | null, onLine: (line: string) => void): string[] {
  const tail: string[] = [];
  let buffered = "";
  stream?.setEncoding("utf8");
  stream?.on("data", (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split("\n");
    buffered = lines.pop() ?? "";
    for (const line of lines) {
      tail.push(line);
      if (tail.length > OUTPUT_TAIL_LINES_MAX) tail.shift();
      onLine(line);
    }
  });
  return tail;
}

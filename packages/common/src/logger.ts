// Structured logging port. Levels: error = the node cannot do what was asked and an operator
// should look; warn = something unexpected was handled; info = lifecycle and role changes;
// debug = per-request detail, off by default.

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

const levelRank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** One JSON object per line on the given stream (stderr by default). */
export class JsonLogger implements Logger {
  constructor(
    private readonly level: LogLevel = "info",
    private readonly bound: LogFields = {},
    private readonly write: (line: string) => void = (line) => process.stderr.write(line),
  ) {}
  debug(message: string, fields?: LogFields): void {
    this.emit("debug", message, fields);
  }
  info(message: string, fields?: LogFields): void {
    this.emit("info", message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.emit("warn", message, fields);
  }
  error(message: string, fields?: LogFields): void {
    this.emit("error", message, fields);
  }
  child(fields: LogFields): Logger {
    return new JsonLogger(this.level, { ...this.bound, ...fields }, this.write);
  }
  private emit(level: LogLevel, message: string, fields?: LogFields): void {
    if (levelRank[level] < levelRank[this.level]) return;
    const entry = { time: new Date().toISOString(), level, msg: message, ...this.bound, ...fields };
    this.write(`${JSON.stringify(entry, errorReplacer)}\n`);
  }
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (typeof value === "bigint") return value.toString();
  return value;
}

export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
};

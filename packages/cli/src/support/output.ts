// Output helpers: tables (cli-table3) for people, JSON for machines.

import Table from "cli-table3";

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printTable(head: string[], rows: (string | number)[][]): void {
  const table = new Table({ head, style: { head: [], border: [] } });
  for (const row of rows) table.push(row.map(String));
  process.stdout.write(`${table.toString()}\n`);
}

export function printLine(line: string): void {
  process.stdout.write(`${line}\n`);
}

export function printInfo(line: string): void {
  process.stderr.write(`${line}\n`);
}

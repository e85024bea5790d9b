// Parses `host:port[,host:port]` bootstrap lists (the --bootstrap flag and CASTLE_BOOTSTRAP).

import { configError } from "../errors/wire-error.js";

export interface BrokerAddress {
  host: string;
  port: number;
}

export const DEFAULT_BOOTSTRAP = "localhost:9092";

export function formatAddress(address: BrokerAddress): string {
  return address.host.includes(":") ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/** Accepts a comma-separated string or a list; throws a readable error on a malformed entry. */
export function parseBootstrap(bootstrap: string | readonly string[]): BrokerAddress[] {
  const entries = (typeof bootstrap === "string" ? bootstrap.split(",") : [...bootstrap]).map((s) => s.trim()).filter((s) => s.length > 0);
  if (entries.length === 0) throw configError("the bootstrap server list is empty: give host:port[,host:port]");
  return entries.map((entry) => {
    const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(entry);
    const host = match?.[1] ?? match?.[2];
    const port = Number(match?.[3]);
    if (host === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw configError(`bootstrap server '${entry}' is not host:port (e.g. localhost:9092)`);
    }
    return { host, port };
  });
}

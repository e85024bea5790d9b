// The identity of a data directory written by the first single-node version, which kept its
// topics in <data.dir>/cluster-metadata.json instead of the metadata log. Only its cluster id
// is still read (to write meta.properties for such a directory); its topics are not imported.

import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** Kafka-style ids: 16 random bytes as URL-safe base64 without padding (22 characters). */
export function newId(): string {
  return randomBytes(16).toString("base64url");
}

export const REGISTRY_FILE_NAME = "cluster-metadata.json";

/**
 * The cluster id stored in `dataDir`'s cluster-metadata.json, or undefined without one. Throws
 * if the file is unreadable.
 */
export function readRegistryClusterId(dataDir: string): string | undefined {
  const path = join(dataDir, REGISTRY_FILE_NAME);
  if (!existsSync(path)) return undefined;
  let parsed: { version?: unknown; clusterId?: unknown };
  try {
    parsed = JSON.parse(readFileSync(path, "utf8")) as { version?: unknown; clusterId?: unknown };
  } catch (error) {
    throw new Error(`${path} is unreadable (${(error as Error).message}); restore it from a backup or move the data directory aside`);
  }
  if (parsed.version !== 1 || typeof parsed.clusterId !== "string") {
    throw new Error(`${path} has an unknown format (version ${String(parsed.version)})`);
  }
  return parsed.clusterId;
}

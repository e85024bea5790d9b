// A data directory's identity, in Kafka's file: <data.dir>/meta.properties with `version=1`,
// `cluster.id` and `node.id` (KIP-631). Written once, by `castle storage format` or on the first
// start of a single node, atomically (temp file, fsync, rename, fsync of the directory); never
// rewritten with another identity. Golden bytes: test/storage-format.test.ts.

import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { join } from "node:path";
import { CastleError } from "@castle/common";
import { clusterIdProblem, parseProperties } from "../config/broker-config.js";
import { readRegistryClusterId } from "./legacy-registry.js";

export const META_PROPERTIES_FILE = "meta.properties";
export const META_PROPERTIES_VERSION = 1;

export interface MetaProperties {
  readonly version: typeof META_PROPERTIES_VERSION;
  readonly clusterId: string;
  readonly nodeId: number;
}

export type StorageFormatErrorCode =
  | "INVALID_CLUSTER_ID"
  | "INVALID_NODE_ID"
  | "CORRUPT_META_PROPERTIES"
  | "ALREADY_FORMATTED"
  | "CLUSTER_ID_MISMATCH"
  | "NODE_ID_MISMATCH"
  | "NOT_FORMATTED";

export class StorageFormatError extends CastleError<StorageFormatErrorCode> {}

export function metaPropertiesPath(dataDir: string): string {
  return join(dataDir, META_PROPERTIES_FILE);
}

/** The file's exact bytes for `meta`. */
export function renderMetaProperties(meta: MetaProperties): string {
  return [
    "# Castle data directory identity, written by `castle storage format` or on first start. Do not edit.",
    `version=${meta.version}`,
    `cluster.id=${meta.clusterId}`,
    `node.id=${meta.nodeId}`,
    "",
  ].join("\n");
}

/** Reads `dataDir`'s meta.properties; undefined when the directory has none. Throws if it is malformed. */
export function readMetaProperties(dataDir: string): MetaProperties | undefined {
  const path = metaPropertiesPath(dataDir);
  if (!existsSync(path)) return undefined;
  const corrupt = (why: string) =>
    new StorageFormatError(
      "CORRUPT_META_PROPERTIES",
      `${path} ${why}; restore it from a backup, or run \`castle storage format\` on an empty directory`,
      {
        path,
      },
    );
  let entries: Map<string, string>;
  try {
    entries = parseProperties(readFileSync(path, "utf8"), path);
  } catch (error) {
    throw corrupt(`is unreadable (${(error as Error).message})`);
  }
  const version = entries.get("version");
  const clusterId = entries.get("cluster.id") ?? "";
  const nodeIdText = entries.get("node.id") ?? "";
  if (version !== String(META_PROPERTIES_VERSION)) throw corrupt(`has version ${version ?? "(none)"}, expected ${META_PROPERTIES_VERSION}`);
  if (clusterIdProblem(clusterId) !== undefined) throw corrupt(`has no valid cluster.id (got "${clusterId}")`);
  if (!/^\d+$/.test(nodeIdText) || Number(nodeIdText) > 2147483647) throw corrupt(`has no valid node.id (got "${nodeIdText}")`);
  return { version: META_PROPERTIES_VERSION, clusterId, nodeId: Number(nodeIdText) };
}

export interface FormatResult {
  readonly meta: MetaProperties;
  /** False when the directory already had exactly this identity (nothing was written). */
  readonly written: boolean;
}

/**
 * Gives `dataDir` the identity {clusterId, nodeId}, creating the directory if needed. Idempotent
 * for the same identity; refuses (ALREADY_FORMATTED, nothing written) a directory that has
 * another one, in meta.properties or in a pre-meta.properties cluster-metadata.json.
 */
export function formatStorage(dataDir: string, identity: { clusterId: string; nodeId: number }): FormatResult {
  const { clusterId, nodeId } = identity;
  const idProblem = clusterIdProblem(clusterId);
  if (idProblem !== undefined) throw new StorageFormatError("INVALID_CLUSTER_ID", idProblem, { clusterId });
  if (!Number.isSafeInteger(nodeId) || nodeId < 0 || nodeId > 2147483647) {
    throw new StorageFormatError("INVALID_NODE_ID", `node id ${nodeId} is invalid; use an integer in 0..2147483647`, { nodeId });
  }
  const meta: MetaProperties = { version: META_PROPERTIES_VERSION, clusterId, nodeId };
  const existing = readMetaProperties(dataDir);
  if (existing !== undefined) {
    if (existing.clusterId === clusterId && existing.nodeId === nodeId) return { meta: existing, written: false };
    throw new StorageFormatError(
      "ALREADY_FORMATTED",
      `data directory ${dataDir} is already formatted as cluster ${existing.clusterId}, node ${existing.nodeId} (meta.properties); ` +
        `it will not be reformatted as cluster ${clusterId}, node ${nodeId}. use that identity, or move the directory aside to start a new one`,
      { dataDir, existing, requested: meta },
    );
  }
  const legacyClusterId = readRegistryClusterId(dataDir);
  if (legacyClusterId !== undefined && legacyClusterId !== clusterId) {
    throw new StorageFormatError(
      "ALREADY_FORMATTED",
      `data directory ${dataDir} holds cluster ${legacyClusterId} (cluster-metadata.json); it will not be formatted as cluster ${clusterId}. ` +
        `use --cluster-id ${legacyClusterId}, or move the directory aside to start a new one`,
      { dataDir, legacyClusterId, requested: meta },
    );
  }
  mkdirSync(dataDir, { recursive: true });
  writeAtomically(metaPropertiesPath(dataDir), renderMetaProperties(meta));
  return { meta, written: true };
}

function writeAtomically(path: string, text: string): void {
  const temp = `${path}.tmp`;
  const fd = openSync(temp, "w");
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
  // The rename is durable only once the directory entry is.
  const dirFd = openSync(join(path, ".."), "r");
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

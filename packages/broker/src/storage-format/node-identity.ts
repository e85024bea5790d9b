// The start-time identity check (Kafka's rule, KIP-631): a node serves a data directory only if
// the directory's meta.properties names the node's cluster and node id. Runs before anything
// else opens the directory; every refusal leaves the disk untouched.

import { newId, readRegistryClusterId } from "./legacy-registry.js";
import { formatStorage, type MetaProperties, readMetaProperties, StorageFormatError } from "./meta-properties.js";

export interface IdentityOptions {
  readonly dataDir: string;
  /** Configured cluster.id; "" = accept the directory's (or create one in single-node mode). */
  readonly clusterId: string;
  readonly nodeId: number;
  /** controller.quorum.voters is empty: an unformatted directory is formatted here. */
  readonly singleNode: boolean;
}

/** How the identity was found: already there, written now (single node), or taken from cluster-metadata.json. */
export type IdentitySource = "existing" | "formatted" | "migrated";

export interface NodeIdentity {
  readonly meta: MetaProperties;
  readonly source: IdentitySource;
}

/** Returns the directory's identity, formatting or migrating it when allowed; throws StorageFormatError otherwise. */
export function ensureNodeIdentity(options: IdentityOptions): NodeIdentity {
  const { dataDir, clusterId, nodeId, singleNode } = options;
  const existing = readMetaProperties(dataDir);
  if (existing !== undefined) {
    checkClusterId(dataDir, existing.clusterId, clusterId, "meta.properties");
    if (existing.nodeId !== nodeId) {
      throw new StorageFormatError(
        "NODE_ID_MISMATCH",
        `data directory ${dataDir} belongs to node ${existing.nodeId} (meta.properties), but node.id is ${nodeId}; ` +
          `set node.id=${existing.nodeId}, or point data.dir at node ${nodeId}'s directory`,
        { dataDir, directoryNodeId: existing.nodeId, configuredNodeId: nodeId },
      );
    }
    return { meta: existing, source: "existing" };
  }
  const legacyClusterId = readRegistryClusterId(dataDir);
  if (legacyClusterId !== undefined) {
    checkClusterId(dataDir, legacyClusterId, clusterId, "cluster-metadata.json");
    return { meta: formatStorage(dataDir, { clusterId: legacyClusterId, nodeId }).meta, source: "migrated" };
  }
  if (!singleNode) {
    throw new StorageFormatError(
      "NOT_FORMATTED",
      `data directory ${dataDir} is not formatted (no meta.properties) and controller.quorum.voters is set; ` +
        `run \`castle storage format --data-dir ${dataDir} --cluster-id ID --node-id ${nodeId}\` first, with the same ID on every node ` +
        "(`castle storage random-uuid` makes one)",
      { dataDir, nodeId },
    );
  }
  return { meta: formatStorage(dataDir, { clusterId: clusterId || newId(), nodeId }).meta, source: "formatted" };
}

function checkClusterId(dataDir: string, found: string, configured: string, file: string): void {
  if (configured === "" || configured === found) return;
  throw new StorageFormatError(
    "CLUSTER_ID_MISMATCH",
    `data directory ${dataDir} belongs to cluster ${found} (${file}), but cluster.id is ${configured}; ` +
      `point data.dir at cluster ${configured}'s data, or set cluster.id=${found}`,
    { dataDir, directoryClusterId: found, configuredClusterId: configured },
  );
}

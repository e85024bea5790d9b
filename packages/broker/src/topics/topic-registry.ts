// The node's record of which topics exist: id, partition count, replication factor and the
// configs set on each. A single node keeps it in <data.dir>/cluster-metadata.json, written
// atomically (temp file, fsync, rename). The cluster id comes from meta.properties; the copy in
// this file only guards against a directory that mixes two clusters. The metadata quorum will replace this file with
// records in the Raft log; the TopicRegistry interface is what the rest of the broker sees.

import { randomBytes } from "node:crypto";
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { join } from "node:path";
import { invariant } from "@castle/common";

export interface TopicRecord {
  readonly name: string;
  readonly topicId: string;
  readonly partitions: number;
  readonly replicationFactor: number;
  readonly configs: Readonly<Record<string, string>>;
  readonly createdAtMs: number;
}

interface RegistryFile {
  version: 1;
  clusterId: string;
  topics: TopicRecord[];
}

/** Kafka-style ids: 16 random bytes as URL-safe base64 without padding (22 characters). */
export function newId(): string {
  return randomBytes(16).toString("base64url");
}

export const REGISTRY_FILE_NAME = "cluster-metadata.json";

const registryPath = (dataDir: string): string => join(dataDir, REGISTRY_FILE_NAME);

/** The parsed registry file, or undefined when there is none. Throws if it is unreadable. */
function readRegistryFile(path: string): RegistryFile | undefined {
  if (!existsSync(path)) return undefined;
  let parsed: RegistryFile;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8")) as RegistryFile;
  } catch (error) {
    throw new Error(`${path} is unreadable (${(error as Error).message}); restore it from a backup or move the data directory aside`);
  }
  if (parsed.version !== 1 || typeof parsed.clusterId !== "string" || !Array.isArray(parsed.topics)) {
    throw new Error(`${path} has an unknown format (version ${String(parsed.version)})`);
  }
  return parsed;
}

/**
 * The cluster id stored in `dataDir`'s registry file, or undefined without one: the identity of a
 * data directory written before meta.properties existed (see storage-format/node-identity.ts).
 */
export function readRegistryClusterId(dataDir: string): string | undefined {
  return readRegistryFile(registryPath(dataDir))?.clusterId;
}

export class TopicRegistry {
  private readonly topics = new Map<string, TopicRecord>();
  private constructor(
    private readonly path: string,
    readonly clusterId: string,
    initial: readonly TopicRecord[],
  ) {
    for (const topic of initial) this.topics.set(topic.name, topic);
  }

  /**
   * Opens the registry in `dataDir` for `clusterId` (from meta.properties, the one source of the
   * id), creating it on first start. The id is also stored in the file, so a directory holding
   * another cluster's topics is refused rather than served.
   */
  static open(dataDir: string, clusterId: string): TopicRegistry {
    invariant(clusterId !== "", "TopicRegistry.open needs the cluster id from meta.properties");
    const path = registryPath(dataDir);
    const parsed = readRegistryFile(path);
    if (parsed === undefined) {
      const registry = new TopicRegistry(path, clusterId, []);
      registry.persist();
      return registry;
    }
    if (parsed.clusterId !== clusterId) {
      throw new Error(
        `${path} belongs to cluster ${parsed.clusterId}, but ${dataDir}/meta.properties says cluster ${clusterId}; the directory mixes two clusters' files: restore it from a backup or move it aside`,
      );
    }
    return new TopicRegistry(path, parsed.clusterId, parsed.topics);
  }

  get(name: string): TopicRecord | undefined {
    return this.topics.get(name);
  }

  all(): TopicRecord[] {
    return [...this.topics.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  put(topic: TopicRecord): void {
    this.topics.set(topic.name, topic);
    this.persist();
  }

  remove(name: string): void {
    invariant(this.topics.delete(name), `removing unknown topic ${name}`);
    this.persist();
  }

  private persist(): void {
    const file: RegistryFile = { version: 1, clusterId: this.clusterId, topics: this.all() };
    const temp = `${this.path}.tmp`;
    const fd = openSync(temp, "w");
    try {
      writeSync(fd, `${JSON.stringify(file, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, this.path);
  }
}

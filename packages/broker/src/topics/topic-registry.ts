// The node's record of which topics exist: id, partition count, replication factor and the
// configs set on each. A single node keeps it in <data.dir>/cluster-metadata.json, written
// atomically (temp file, fsync, rename). The metadata quorum will replace this file with
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

export class TopicRegistry {
  private readonly topics = new Map<string, TopicRecord>();
  private constructor(
    private readonly path: string,
    readonly clusterId: string,
    initial: readonly TopicRecord[],
  ) {
    for (const topic of initial) this.topics.set(topic.name, topic);
  }

  /** Opens the registry in `dataDir`, creating it with `clusterId` (or a new id) on first start. */
  static open(dataDir: string, expectedClusterId: string): TopicRegistry {
    const path = join(dataDir, "cluster-metadata.json");
    if (!existsSync(path)) {
      const registry = new TopicRegistry(path, expectedClusterId || newId(), []);
      registry.persist();
      return registry;
    }
    let parsed: RegistryFile;
    try {
      parsed = JSON.parse(readFileSync(path, "utf8")) as RegistryFile;
    } catch (error) {
      throw new Error(`${path} is unreadable (${(error as Error).message}); restore it from a backup or move the data directory aside`);
    }
    if (parsed.version !== 1 || typeof parsed.clusterId !== "string" || !Array.isArray(parsed.topics)) {
      throw new Error(`${path} has an unknown format (version ${String(parsed.version)})`);
    }
    if (expectedClusterId && expectedClusterId !== parsed.clusterId) {
      throw new Error(
        `data directory ${dataDir} belongs to cluster ${parsed.clusterId}, but cluster.id is ${expectedClusterId}; point data.dir at this cluster's data or fix cluster.id`,
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

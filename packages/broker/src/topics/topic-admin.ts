// Topic administration: create, delete, grow partitions, alter configs. Validation happens
// here, before anything changes, so a refused request leaves no trace. Operations run one at
// a time (a promise chain), which keeps check-then-act sequences atomic. On a cluster this
// logic moves to the quorum controller and commits metadata records instead of a file.

import type { Clock, Logger } from "@castle/common";
import { PARTITIONS_PER_TOPIC_MAX, topicConfigDef, topicNameProblem, topicNamesCollide, validateTopicConfigs } from "@castle/metadata";
import { protocolError } from "@castle/protocol";
import type { BrokerConfig } from "../config/broker-config.js";
import type { ReplicaManager } from "../replica/replica-manager.js";
import { newId, type TopicRecord, type TopicRegistry } from "./topic-registry.js";

export interface CreateTopicSpec {
  name: string;
  /** -1 = num.partitions */
  numPartitions: number;
  /** -1 = default.replication.factor */
  replicationFactor: number;
  configs: Readonly<Record<string, string>>;
}

export interface ConfigChange {
  name: string;
  op: "set" | "delete";
  value: string;
}

export class TopicAdmin {
  private queue: Promise<unknown> = Promise.resolve();
  /** Nodes that can host replicas; a single node until brokers register with a controller. */
  private readonly brokerCount = 1;

  constructor(
    private readonly deps: { registry: TopicRegistry; replicas: ReplicaManager; config: BrokerConfig; clock: Clock; logger: Logger },
  ) {}

  /** Opens the logs of every registered topic (start-up). */
  async openAll(): Promise<void> {
    for (const topic of this.deps.registry.all()) await this.deps.replicas.openPartitions(topic);
  }

  createTopic(spec: CreateTopicSpec, validateOnly: boolean): Promise<TopicRecord> {
    return this.serially(async () => {
      const topic = this.validateCreate(spec);
      if (validateOnly) return topic;
      await this.deps.replicas.openPartitions(topic);
      this.deps.registry.put(topic);
      this.deps.logger.info("created topic", { topic: topic.name, partitions: topic.partitions, topicId: topic.topicId });
      return topic;
    });
  }

  deleteTopic(name: string): Promise<void> {
    return this.serially(async () => {
      if (!this.deps.config.deleteTopicEnable) {
        throw protocolError("TOPIC_DELETION_DISABLED", "topic deletion is disabled on this node; set delete.topic.enable=true to allow it");
      }
      const topic = this.existing(name);
      this.deps.registry.remove(name);
      await this.deps.replicas.deletePartitions(topic);
      this.deps.logger.info("deleted topic", { topic: name });
    });
  }

  createPartitions(name: string, count: number, validateOnly: boolean): Promise<void> {
    return this.serially(async () => {
      const topic = this.existing(name);
      if (!Number.isInteger(count) || count <= topic.partitions) {
        throw protocolError(
          "INVALID_PARTITIONS",
          `topic ${name} has ${topic.partitions} partitions; the new count must be larger, got ${count}`,
        );
      }
      if (count > PARTITIONS_PER_TOPIC_MAX) {
        throw protocolError("INVALID_PARTITIONS", `${count} partitions exceeds the maximum of ${PARTITIONS_PER_TOPIC_MAX} per topic`);
      }
      if (validateOnly) return;
      const grown: TopicRecord = { ...topic, partitions: count };
      await this.deps.replicas.openPartitions(grown, topic.partitions);
      this.deps.registry.put(grown);
      this.deps.logger.info("added partitions", { topic: name, from: topic.partitions, to: count });
    });
  }

  alterConfigs(name: string, changes: readonly ConfigChange[], validateOnly: boolean): Promise<void> {
    return this.serially(async () => {
      const topic = this.existing(name);
      const next: Record<string, string> = { ...topic.configs };
      const toSet: Record<string, string> = {};
      for (const change of changes) {
        if (!topicConfigDef(change.name)) throw protocolError("INVALID_CONFIG", `unknown topic config "${change.name}"`);
        if (change.op === "delete") delete next[change.name];
        else toSet[change.name] = change.value;
      }
      Object.assign(next, validateTopicConfigs(toSet));
      if (validateOnly) return;
      const altered: TopicRecord = { ...topic, configs: next };
      this.deps.registry.put(altered);
      this.deps.replicas.reconfigure(altered);
      this.deps.logger.info("altered topic configs", { topic: name, changes: changes.map((c) => c.name) });
    });
  }

  existing(name: string): TopicRecord {
    const topic = this.deps.registry.get(name);
    if (!topic) throw protocolError("UNKNOWN_TOPIC_OR_PARTITION", `topic "${name}" does not exist`, { topic: name });
    return topic;
  }

  private validateCreate(spec: CreateTopicSpec): TopicRecord {
    const problem = topicNameProblem(spec.name);
    if (problem) throw protocolError("INVALID_TOPIC_EXCEPTION", problem, { topic: spec.name });
    if (this.deps.registry.get(spec.name)) throw protocolError("TOPIC_ALREADY_EXISTS", `topic "${spec.name}" already exists`);
    const collision = this.deps.registry.all().find((t) => topicNamesCollide(t.name, spec.name));
    if (collision) {
      throw protocolError(
        "INVALID_TOPIC_EXCEPTION",
        `topic "${spec.name}" collides with existing topic "${collision.name}" ('.' and '_' are the same in metric names)`,
      );
    }
    const partitions = spec.numPartitions === -1 ? this.deps.config.numPartitions : spec.numPartitions;
    if (!Number.isInteger(partitions) || partitions < 1)
      throw protocolError("INVALID_PARTITIONS", `partition count must be at least 1, got ${partitions}`);
    if (partitions > PARTITIONS_PER_TOPIC_MAX) {
      throw protocolError("INVALID_PARTITIONS", `${partitions} partitions exceeds the maximum of ${PARTITIONS_PER_TOPIC_MAX} per topic`);
    }
    const replicationFactor = spec.replicationFactor === -1 ? this.deps.config.defaultReplicationFactor : spec.replicationFactor;
    if (!Number.isInteger(replicationFactor) || replicationFactor < 1) {
      throw protocolError("INVALID_REPLICATION_FACTOR", `replication factor must be at least 1, got ${replicationFactor}`);
    }
    if (replicationFactor > this.brokerCount) {
      throw protocolError(
        "INVALID_REPLICATION_FACTOR",
        `replication factor ${replicationFactor} is larger than the ${this.brokerCount} available broker(s); lower it or add brokers`,
      );
    }
    const configs = validateTopicConfigs(spec.configs);
    return { name: spec.name, topicId: newId(), partitions, replicationFactor, configs, createdAtMs: this.deps.clock.nowMs() };
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }
}

// Keeps this node's partition logs in step with the metadata image: a log for every partition
// whose replicas include this node (created with the topic's configs), new partitions opened,
// configs applied to open logs, and the logs of a deleted topic (or of a same-named topic
// that replaced it, told apart by topic id) deleted. Images arrive on the Raft apply path;
// the work is async (file system), so it runs here one image at a time, always on the newest
// image (intermediate ones are skipped: each pass compares the whole image with what is open).
//
// Logs found on disk at start for topics the image does not have are left alone and reported:
// deleting data because the metadata looks empty is the one mistake that cannot be undone.

import { ConditionWaiters, type Logger } from "@castle/common";
import type { Configs, MetadataImage } from "@castle/metadata";
import type { LogManager } from "@castle/storage";

/** Partition logs opened concurrently in one pass (a topic of 1,000 partitions opens in batches). */
const LOGS_OPENED_AT_ONCE = 32;

interface HostedTopic {
  readonly topicId: string;
  readonly partitions: Set<number>;
  configs: Configs;
}

export interface PartitionReconcilerDeps {
  readonly nodeId: number;
  readonly logs: LogManager;
  readonly logConfigFor: (configs: Configs) => Parameters<LogManager["createLog"]>[2];
  /** Called after every pass with the image whose logs are now open (replica roles follow it). */
  readonly onReconciled?: (image: MetadataImage) => void;
  readonly logger: Logger;
}

export class PartitionReconciler {
  private readonly hosted = new Map<string, HostedTopic>();
  private latest: MetadataImage | undefined;
  private running: Promise<void> | undefined;
  private reconciledOffset = -1;
  private readonly waiters = new ConditionWaiters();
  private failure: Error | undefined;

  constructor(private readonly deps: PartitionReconcilerDeps) {}

  /** The offset of the newest image whose partitions are all open here. */
  get offset(): number {
    return this.reconciledOffset;
  }

  /** Reports logs on disk that no topic in `image` owns (once, at start). */
  reportStrayLogs(image: MetadataImage): void {
    const stray = new Set<string>();
    for (const log of this.deps.logs.allLogs()) if (!image.topic(log.topic)) stray.add(log.topic);
    if (stray.size > 0) {
      this.deps.logger.warn("partition logs on disk belong to no topic in the metadata log; they are kept but not served", {
        topics: [...stray].sort(),
      });
    }
  }

  /** Queues a pass over `image` (only the newest queued image is reconciled). */
  update(image: MetadataImage): void {
    this.latest = image;
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
      // An image queued between drain()'s last look and here would otherwise wait for the next one.
      if (!this.failure && this.latest && this.latest.offset > this.reconciledOffset) this.update(this.latest);
    });
  }

  /** Resolves once an image at `offset` or later is reconciled; rejects after timeoutMs. */
  waitFor(offset: number, timeoutMs: number): Promise<void> {
    return this.waiters.wait(
      () => (this.reconciledOffset >= offset ? true : this.failure),
      timeoutMs,
      () => new Error(`partition logs not opened for metadata offset ${offset} within ${timeoutMs} ms`),
    );
  }

  /** Waits for the pass in progress, if any. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    while (this.latest && this.latest.offset > this.reconciledOffset) {
      const image = this.latest;
      try {
        await this.reconcile(image);
        this.reconciledOffset = image.offset;
        this.deps.onReconciled?.(image);
      } catch (error) {
        this.failure = error as Error;
        this.deps.logger.error("opening or deleting partition logs failed; the node serves what it has", { error });
        break;
      } finally {
        this.waiters.notify();
      }
    }
  }

  private async reconcile(image: MetadataImage): Promise<void> {
    const { nodeId, logs, logger } = this.deps;
    // Topics gone (or replaced by a new topic of the same name) first, so a re-created name starts empty.
    for (const [name, hosted] of this.hosted) {
      const current = image.topic(name);
      if (current?.topicId === hosted.topicId) continue;
      for (const partition of hosted.partitions) await logs.deleteLog(name, partition);
      this.hosted.delete(name);
      logger.info("deleted the logs of a removed topic", { topic: name, topicId: hosted.topicId });
    }
    const toOpen: { topic: string; partition: number; configs: Configs }[] = [];
    for (const topic of image.topics()) {
      const configs = image.topicConfigs(topic.name);
      let hosted = this.hosted.get(topic.name);
      if (hosted && hosted.configs !== configs) {
        const config = this.deps.logConfigFor(configs);
        for (const partition of hosted.partitions) logs.logFor(topic.name, partition)?.updateConfig(config);
        hosted.configs = configs;
      }
      for (const state of topic.partitions) {
        if (!state.replicas.includes(nodeId) || hosted?.partitions.has(state.partition)) continue;
        if (!hosted) {
          hosted = { topicId: topic.topicId, partitions: new Set(), configs };
          this.hosted.set(topic.name, hosted);
        }
        hosted.partitions.add(state.partition);
        toOpen.push({ topic: topic.name, partition: state.partition, configs });
      }
    }
    // Opening a log mostly waits on the file system and the index store: open several at once.
    for (let i = 0; i < toOpen.length; i += LOGS_OPENED_AT_ONCE) {
      await Promise.all(
        toOpen.slice(i, i + LOGS_OPENED_AT_ONCE).map((p) => logs.createLog(p.topic, p.partition, this.deps.logConfigFor(p.configs))),
      );
    }
  }
}

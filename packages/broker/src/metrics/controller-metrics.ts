// Metrics of the metadata quorum and the cluster as this node's image shows it (Kafka's
// KafkaController and broker metadata metrics): read from the quorum member at scrape time.
// Unclean leader elections are counted by the member that decided them as active controller.
// The Raft metrics (commit latency, elections, term, role) come from the Raft node itself.

import type { Clock } from "@castle/common";
import type { MetadataQuorum } from "@castle/metadata";
import { Counter, Gauge, type Registry } from "prom-client";
import type { BrokerLifecycle } from "../controller/broker-lifecycle.js";

export class ControllerMetrics {
  private lifecycle: BrokerLifecycle | undefined;

  constructor(registry: Registry, quorum: MetadataQuorum, clock: Clock) {
    const registers = [registry];
    const gauge = (name: string, help: string, value: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(value());
        },
      });
    gauge("castle_controller_active_count", "1 while this node is the active controller, else 0.", () =>
      quorum.isActiveController ? 1 : 0,
    );
    gauge(
      "castle_controller_fenced_broker_count",
      "Registered brokers that are fenced.",
      () => quorum.image.brokers().filter((b) => b.fenced).length,
    );
    gauge("castle_controller_active_broker_count", "Registered brokers that are unfenced.", () => quorum.image.unfencedBrokers().length);
    gauge("castle_controller_offline_partition_count", "Partitions without a leader.", () => {
      let offline = 0;
      for (const topic of quorum.image.topics()) for (const p of topic.partitions) if (p.leader < 0) offline++;
      return offline;
    });
    new Counter({
      name: "castle_controller_unclean_leader_elections_total",
      help: "Leaders this node elected from outside the ISR while it was the active controller (each may have lost acknowledged records).",
      registers,
      collect() {
        this.reset();
        this.inc(quorum.uncleanLeaderElections);
      },
    });
    gauge(
      "castle_metadata_last_applied_offset",
      "Offset of the last metadata batch applied to this node's image.",
      () => quorum.appliedOffset,
    );
    gauge("castle_metadata_apply_lag_entries", "Committed metadata log entries this node has not applied yet.", () => quorum.applyLag);
    gauge(
      "castle_metadata_snapshot_age_seconds",
      "Seconds since this node last took or loaded a metadata snapshot; -1 if never since start.",
      () => {
        const at = quorum.lastSnapshotMs;
        return at === undefined ? -1 : (clock.monotonicMs() - at) / 1000;
      },
    );
    gauge("castle_broker_unfenced", "1 while the controller has this broker unfenced (registered and caught up), else 0.", () =>
      this.lifecycle?.state === "unfenced" ? 1 : 0,
    );
    const perBroker = (name: string, help: string, count: (brokerId: number, leader: number, replicas: readonly number[]) => boolean) =>
      new Gauge({
        name,
        help,
        labelNames: ["broker"],
        registers,
        collect() {
          this.reset();
          const counts = new Map<number, number>(quorum.image.brokers().map((b) => [b.brokerId, 0]));
          for (const topic of quorum.image.topics()) {
            for (const p of topic.partitions) {
              for (const brokerId of counts.keys())
                if (count(brokerId, p.leader, p.replicas)) counts.set(brokerId, (counts.get(brokerId) ?? 0) + 1);
            }
          }
          for (const [brokerId, n] of counts) this.set({ broker: String(brokerId) }, n);
        },
      });
    perBroker("castle_broker_leader_count", "Partitions each broker leads.", (id, leader) => id === leader);
    perBroker("castle_broker_partition_count", "Partition replicas each broker hosts.", (id, _leader, replicas) => replicas.includes(id));
  }

  trackBroker(lifecycle: BrokerLifecycle): void {
    this.lifecycle = lifecycle;
  }
}

// A broker's life with the active controller (KIP-631's BrokerLifecycleManager): register
// (a new incarnation and broker epoch per process start), heartbeat every
// broker.heartbeat.interval.ms with the metadata offset applied here, re-register when the
// controller no longer knows this epoch, and on shutdown ask for controlled shutdown (the
// controller moves leadership away, then fences us) before going. The controller unfences the
// broker once it has caught up with the log up to its registration; until then it heartbeats
// fast so a fresh node is usable quickly. A registration refused for good (another cluster's
// id) is fatal: reported once through onFatal, and the loop stops.

import { randomUUID } from "node:crypto";
import { type Clock, ConditionWaiters, type Logger } from "@castle/common";
import { CONTROLLER_ENDPOINT } from "@castle/metadata";
import { ProtocolError, type WireBrokerEndpoint } from "@castle/protocol";
import { CLIENT_ENDPOINT } from "./cluster-nodes.js";
import type { ControllerChannel } from "./controller-channel.js";

export type BrokerState = "starting" | "fenced" | "unfenced" | "shutting-down" | "stopped" | "failed";

export interface BrokerLifecycleOptions {
  readonly brokerId: number;
  readonly clusterId: string;
  /** CLIENT and, for a broker-only node, CONTROLLER (its Raft listener, so the quorum can add it as an observer). */
  readonly endpoints: readonly WireBrokerEndpoint[];
  readonly rack: string;
  readonly heartbeatIntervalMs: number;
  /** Heartbeat period while fenced (catching up after registering). */
  readonly fencedHeartbeatIntervalMs?: number;
  /** Longest controlled shutdown before the broker leaves anyway. */
  readonly controlledShutdownTimeoutMs: number;
  /** The metadata offset this node has applied. */
  readonly appliedOffset: () => number;
}

const DEFAULT_FENCED_HEARTBEAT_INTERVAL_MS = 100;
/**
 * Refusals that registering again cannot fix. DUPLICATE_BROKER_REGISTRATION is not one: after
 * a kill -9 the old incarnation's session lives on until broker.session.timeout.ms, and the
 * new one is accepted once it has expired (Kafka's broker retries the same way).
 */
const FATAL = new Set(["INCONSISTENT_CLUSTER_ID", "INVALID_REQUEST"]);

export class BrokerLifecycle {
  private stateNow: BrokerState = "starting";
  private brokerEpoch = -1;
  private readonly incarnationId = randomUUID();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopRequested = false;
  private readonly waiters = new ConditionWaiters();
  private fatalError: Error | undefined;

  constructor(
    private readonly options: BrokerLifecycleOptions,
    private readonly channel: ControllerChannel,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly onFatal: (error: Error) => void,
  ) {}

  get state(): BrokerState {
    return this.stateNow;
  }

  get epoch(): number {
    return this.brokerEpoch;
  }

  start(): void {
    this.schedule(0);
  }

  /** Resolves once the controller has unfenced this broker; rejects on a fatal refusal or after timeoutMs. */
  whenUnfenced(timeoutMs: number): Promise<void> {
    return this.waiters.wait(
      () => (this.stateNow === "unfenced" ? true : this.fatalError),
      timeoutMs,
      () =>
        new Error(
          `broker ${this.options.brokerId} was not unfenced within ${timeoutMs} ms (state ${this.stateNow}); is a majority of controller.quorum.voters up and reachable?`,
        ),
    );
  }

  /** Controlled shutdown (bounded), then stop heartbeating. */
  async shutdown(): Promise<void> {
    this.stopRequested = true;
    clearTimeout(this.timer);
    await this.running;
    if (this.brokerEpoch >= 0 && this.stateNow !== "failed") {
      this.setState("shutting-down");
      const deadline = this.clock.monotonicMs() + this.options.controlledShutdownTimeoutMs;
      while (this.clock.monotonicMs() < deadline) {
        try {
          const answer = await this.channel.call(
            "brokerHeartbeat",
            [this.heartbeat(true)],
            Math.max(1, deadline - this.clock.monotonicMs()),
          );
          if (answer.shouldShutDown) break;
        } catch (error) {
          this.logger.warn("controlled shutdown did not complete; leaving anyway", { error: (error as Error).message });
          break;
        }
      }
    }
    if (this.stateNow !== "failed") this.setState("stopped");
  }

  private schedule(delayMs: number): void {
    if (this.stopRequested) return;
    this.timer = setTimeout(() => {
      this.running = this.step().finally(() => {
        this.running = undefined;
      });
    }, delayMs);
    this.timer.unref();
  }

  private async step(): Promise<void> {
    try {
      if (this.brokerEpoch < 0) await this.register();
      else await this.sendHeartbeat();
    } catch (error) {
      if (error instanceof ProtocolError && FATAL.has(error.code)) {
        this.fail(error);
        return;
      }
      if (error instanceof ProtocolError && (error.code === "STALE_BROKER_EPOCH" || error.code === "BROKER_ID_NOT_REGISTERED")) {
        this.logger.warn("the controller no longer knows this broker's registration; registering again", { reason: error.message });
        this.brokerEpoch = -1;
        this.setState("starting");
      } else {
        this.logger.warn(this.brokerEpoch < 0 ? "broker registration failed; retrying" : "broker heartbeat failed; retrying", {
          error: (error as Error).message,
        });
      }
    }
    this.schedule(this.stateNow === "unfenced" ? this.options.heartbeatIntervalMs : this.fencedInterval());
  }

  private fencedInterval(): number {
    return Math.min(this.options.heartbeatIntervalMs, this.options.fencedHeartbeatIntervalMs ?? DEFAULT_FENCED_HEARTBEAT_INTERVAL_MS);
  }

  private async register(): Promise<void> {
    const answer = await this.channel.call("registerBroker", [
      {
        brokerId: this.options.brokerId,
        clusterId: this.options.clusterId,
        incarnationId: this.incarnationId,
        endpoints: [...this.options.endpoints],
        rack: this.options.rack,
      },
    ]);
    this.brokerEpoch = answer.brokerEpoch;
    this.setState("fenced");
    this.logger.info("registered with the controller", { brokerEpoch: this.brokerEpoch, incarnationId: this.incarnationId });
    await this.sendHeartbeat();
  }

  private async sendHeartbeat(): Promise<void> {
    const answer = await this.channel.call("brokerHeartbeat", [this.heartbeat(false)], this.options.heartbeatIntervalMs * 2);
    const next: BrokerState = answer.isFenced ? "fenced" : "unfenced";
    if (next !== this.stateNow) {
      this.logger.info(next === "unfenced" ? "the controller unfenced this broker" : "the controller fenced this broker", {
        brokerEpoch: this.brokerEpoch,
        metadataOffset: this.options.appliedOffset(),
      });
    }
    this.setState(next);
  }

  private heartbeat(wantShutdown: boolean) {
    return {
      brokerId: this.options.brokerId,
      brokerEpoch: this.brokerEpoch,
      metadataOffset: this.options.appliedOffset(),
      wantShutdown,
    };
  }

  private fail(error: ProtocolError): void {
    this.fatalError = new Error(`the controller refused broker ${this.options.brokerId}: ${error.message}`);
    this.setState("failed");
    this.logger.error("broker registration refused for good", { error: error.message, code: error.code });
    this.onFatal(this.fatalError);
  }

  private setState(state: BrokerState): void {
    this.stateNow = state;
    this.waiters.notify();
  }
}

/** The endpoints a node registers: its client listener, and for a broker-only node its Raft listener. */
export function brokerEndpoints(advertisedHost: string, clientPort: number, raftPort: number | undefined): WireBrokerEndpoint[] {
  const endpoints: WireBrokerEndpoint[] = [{ name: CLIENT_ENDPOINT, host: advertisedHost, port: clientPort }];
  if (raftPort !== undefined) endpoints.push({ name: CONTROLLER_ENDPOINT, host: advertisedHost, port: raftPort });
  return endpoints;
}

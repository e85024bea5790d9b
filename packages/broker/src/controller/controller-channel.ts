// A node's way to the active controller (KIP-590's forwarding, and the broker-to-controller
// channel): each call goes to this node's own controller when it is the active one, otherwise
// to the Raft leader's controller listener over castle.v1.Controller. NOT_CONTROLLER and
// transport failures are retried, with back-off, on whoever leads by then (trying every voter
// in turn while no leader is known) until the call's deadline; any other refusal is the answer.

import { type Clock, type Logger, sleep } from "@castle/common";
import type { MetadataQuorum } from "@castle/metadata";
import { type ControllerClient, loadCastleProto, ProtocolError, protocolError, protocolErrorFromStatusDetails } from "@castle/protocol";
import * as grpc from "@grpc/grpc-js";
import type { ControllerApi, ControllerMethod } from "./controller-api.js";

export interface ControllerChannelOptions {
  /** host:port of every voter's controller listener (controller.quorum.voters). */
  readonly voterAddresses: readonly string[];
  /** Longest a call may take in all, retries included (a request's own timeout may shorten it). */
  readonly requestTimeoutMs: number;
  readonly retryBackoffMs?: number;
  readonly retryBackoffMsMax?: number;
}

const DEFAULT_RETRY_BACKOFF_MS = 25;
const DEFAULT_RETRY_BACKOFF_MS_MAX = 500;

const GRPC_METHOD: Record<ControllerMethod, keyof ControllerClient & string> = {
  registerBroker: "RegisterBroker",
  brokerHeartbeat: "BrokerHeartbeat",
  createTopics: "CreateTopics",
  deleteTopics: "DeleteTopics",
  createPartitions: "CreatePartitions",
  alterConfigs: "AlterConfigs",
  electLeaders: "ElectLeaders",
  describeQuorum: "DescribeQuorum",
  describeCluster: "DescribeCluster",
  alterPartition: "AlterPartition",
};

type Call<M extends ControllerMethod> = Parameters<ControllerApi[M]>;
type Answer<M extends ControllerMethod> = Awaited<ReturnType<ControllerApi[M]>>;

export class ControllerChannel {
  private readonly clients = new Map<string, ControllerClient>();
  private nextVoter = 0;
  private closed = false;

  constructor(
    private readonly options: ControllerChannelOptions,
    private readonly quorum: MetadataQuorum,
    /** This node's controller, when it has the controller role. */
    private readonly local: ControllerApi | undefined,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** Calls `method` on the active controller, within `timeoutMs` when given (> 0) and the channel's own limit. */
  async call<M extends ControllerMethod>(method: M, args: Call<M>, timeoutMs?: number): Promise<Answer<M>> {
    const limit = this.options.requestTimeoutMs;
    const budget = timeoutMs !== undefined && timeoutMs > 0 ? Math.min(timeoutMs, limit) : limit;
    const deadline = this.clock.monotonicMs() + budget;
    let backoff = this.options.retryBackoffMs ?? DEFAULT_RETRY_BACKOFF_MS;
    let last: ProtocolError | undefined;
    for (let attempt = 1; ; attempt++) {
      if (this.closed) throw protocolError("NOT_CONTROLLER", "the node is shutting down");
      try {
        return await this.once(method, args, deadline);
      } catch (error) {
        if (!(error instanceof ProtocolError) || !isRetriable(error)) throw error;
        last = error;
      }
      const remaining = deadline - this.clock.monotonicMs();
      if (remaining <= 0) {
        throw protocolError(
          last.code === "NOT_CONTROLLER" ? "NOT_CONTROLLER" : "REQUEST_TIMED_OUT",
          `no active controller answered ${method} within ${Math.round(budget)} ms (${attempt} attempts); last: ${last.message}`,
          { method },
        );
      }
      if (attempt % 20 === 0) this.logger.warn("still looking for the active controller", { method, attempt, last: last.message });
      await sleep(Math.min(backoff, remaining));
      backoff = Math.min(backoff * 2, this.options.retryBackoffMsMax ?? DEFAULT_RETRY_BACKOFF_MS_MAX);
    }
  }

  close(): void {
    this.closed = true;
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  private once<M extends ControllerMethod>(method: M, args: Call<M>, deadline: number): Promise<Answer<M>> {
    if (this.local && this.quorum.isActiveController) {
      const invoke = this.local[method] as (...a: Call<M>) => Promise<Answer<M>>;
      return invoke.apply(this.local, args);
    }
    const address = this.target();
    return this.remote(address, method, args, deadline);
  }

  /** The leader's controller listener if known, else the next voter in turn. */
  private target(): string {
    const leader = this.quorum.controllerAddress;
    if (leader !== undefined && this.quorum.controllerId !== this.quorum.nodeId) return leader;
    const voters = this.options.voterAddresses;
    const address = voters[this.nextVoter++ % voters.length];
    if (address === undefined) throw protocolError("NOT_CONTROLLER", "controller.quorum.voters is empty; no controller to ask");
    return address;
  }

  private remote<M extends ControllerMethod>(address: string, method: M, args: Call<M>, deadline: number): Promise<Answer<M>> {
    let client = this.clients.get(address);
    if (!client) {
      client = new (loadCastleProto().castle.v1.Controller)(address, grpc.credentials.createInsecure());
      this.clients.set(address, client);
    }
    const grpcMethod = GRPC_METHOD[method];
    const request = args[0] ?? {};
    const callDeadline = new Date(Date.now() + Math.max(1, deadline - this.clock.monotonicMs()));
    return new Promise<Answer<M>>((resolve, reject) => {
      const fn = (client as unknown as Record<string, (...a: unknown[]) => void>)[grpcMethod];
      if (!fn) {
        reject(new Error(`castle.v1.Controller has no method ${grpcMethod}`));
        return;
      }
      fn.call(client, request, { deadline: callDeadline }, (error: grpc.ServiceError | null, response: Answer<M>) => {
        if (!error) {
          resolve(response);
          return;
        }
        const carried = protocolErrorFromStatusDetails(error.details, { controller: address });
        if (carried) {
          reject(carried);
          return;
        }
        const transient =
          error.code === grpc.status.UNAVAILABLE || error.code === grpc.status.DEADLINE_EXCEEDED || error.code === grpc.status.CANCELLED;
        reject(
          protocolError(
            transient ? "NETWORK_EXCEPTION" : "UNKNOWN_SERVER_ERROR",
            `${grpcMethod} to the controller at ${address} failed (${grpc.status[error.code]}): ${error.details}`,
            { controller: address },
          ),
        );
      });
    });
  }
}

function isRetriable(error: ProtocolError): boolean {
  return error.code === "NOT_CONTROLLER" || error.code === "NETWORK_EXCEPTION" || error.code === "REQUEST_TIMED_OUT";
}

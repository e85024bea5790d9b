// A scripted, in-memory stand-in for a one-broker cluster with a group coordinator, for the
// group consumer's unit tests: topics with records to fetch, and a small model of Kafka's
// classic group protocol (KIP-394 member ids, join barrier with a rebalance timeout, leader
// assignment through SyncGroup, REBALANCE_IN_PROGRESS to heartbeats while preparing, offset
// commits checked against the generation and, as Castle's coordinator does, against the
// member's assignment in it). Tests read every request it saw and can queue error
// codes for the next calls of a method. Each consumer gets its own transport; all share state.

import {
  decodeConsumerAssignment,
  ErrorCode,
  encodeRecordBatch,
  type FetchRequestInput,
  type FetchResponse,
  type HeartbeatRequestInput,
  type HeartbeatResponse,
  type JoinGroupRequestInput,
  type JoinGroupResponse,
  type LeaveGroupRequestInput,
  type LeaveGroupResponse,
  type ListOffsetsRequestInput,
  type ListOffsetsResponse,
  type MetadataResponse,
  type OffsetCommitRequestInput,
  type OffsetCommitResponse,
  type OffsetFetchRequestInput,
  type OffsetFetchResponse,
  type SyncGroupRequestInput,
  type SyncGroupResponse,
} from "@castle/protocol";
import { MetadataCache } from "../../src/connection/metadata-cache.js";
import type { ConsumerTransport } from "../../src/consumer/consumer.js";
import type { GroupRequest } from "../../src/consumer/group/group-transport.js";

export type GroupMethod = "JoinGroup" | "SyncGroup" | "Heartbeat" | "LeaveGroup" | "OffsetCommit" | "OffsetFetch";

export interface RecordedCall {
  method: GroupMethod;
  /** Which transport (consumer) sent it. */
  client: string;
  request: Record<string, unknown>;
  atMs: number;
}

interface Member {
  memberId: string;
  instanceId: string;
  protocols: { name: string; metadata: Buffer }[];
  rebalanceTimeoutMs: number;
  joinWaiter: ((response: JoinGroupResponse) => void) | undefined;
  syncWaiter: ((response: SyncGroupResponse) => void) | undefined;
  assignment: Buffer;
}

type GroupState = "Empty" | "PreparingRebalance" | "CompletingRebalance" | "Stable";

function joinAnswer(errorCode: number, fields: Partial<JoinGroupResponse> = {}): JoinGroupResponse {
  return {
    errorCode,
    errorMessage: "",
    generationId: -1,
    protocolType: "",
    protocolName: "",
    leader: "",
    memberId: "",
    members: [],
    ...fields,
  };
}

class FakeGroup {
  state: GroupState = "Empty";
  generationId = 0;
  leaderId = "";
  protocolName = "";
  readonly members = new Map<string, Member>();
  readonly pendingIds = new Set<string>();
  private rebalanceTimer: NodeJS.Timeout | undefined;
  private nextId = 0;

  constructor(readonly groupId: string) {}

  newMemberId(clientId: string): string {
    return `${clientId || "member"}-${++this.nextId}`;
  }

  prepareRebalance(): void {
    if (this.state === "CompletingRebalance") {
      for (const m of this.members.values()) {
        const waiter = m.syncWaiter;
        m.syncWaiter = undefined;
        waiter?.({
          errorCode: ErrorCode.REBALANCE_IN_PROGRESS,
          errorMessage: "rebalancing",
          protocolType: "",
          protocolName: "",
          assignment: Buffer.alloc(0),
        });
      }
    }
    if (this.state !== "PreparingRebalance") {
      this.state = "PreparingRebalance";
      const timeoutMs = Math.max(50, ...[...this.members.values()].map((m) => m.rebalanceTimeoutMs));
      this.rebalanceTimer = setTimeout(() => this.completeJoin(true), timeoutMs);
      this.rebalanceTimer.unref();
    }
    this.maybeCompleteJoin();
  }

  /** While true, a join phase does not complete (a slow member); release() ends it. */
  hold = false;

  release(): void {
    this.hold = false;
    this.maybeCompleteJoin();
  }

  maybeCompleteJoin(): void {
    if (this.state !== "PreparingRebalance" || this.hold) return;
    if ([...this.members.values()].every((m) => m.joinWaiter !== undefined)) this.completeJoin(false);
  }

  private completeJoin(timedOut: boolean): void {
    if (this.state !== "PreparingRebalance") return;
    clearTimeout(this.rebalanceTimer);
    if (timedOut) for (const [id, m] of this.members) if (m.joinWaiter === undefined) this.members.delete(id);
    const members = [...this.members.values()];
    if (members.length === 0) {
      this.state = "Empty";
      return;
    }
    this.generationId++;
    if (!this.members.has(this.leaderId)) this.leaderId = (members[0] as Member).memberId;
    const leader = this.members.get(this.leaderId) as Member;
    this.protocolName =
      leader.protocols.map((p) => p.name).find((name) => members.every((m) => m.protocols.some((p) => p.name === name))) ?? "";
    this.state = "CompletingRebalance";
    for (const m of members) {
      const waiter = m.joinWaiter;
      m.joinWaiter = undefined;
      m.assignment = Buffer.alloc(0);
      waiter?.(
        joinAnswer(ErrorCode.NONE, {
          generationId: this.generationId,
          protocolType: "consumer",
          protocolName: this.protocolName,
          leader: this.leaderId,
          memberId: m.memberId,
          members:
            m.memberId === this.leaderId
              ? members.map((x) => ({
                  memberId: x.memberId,
                  groupInstanceId: x.instanceId,
                  metadata: x.protocols.find((p) => p.name === this.protocolName)?.metadata ?? Buffer.alloc(0),
                }))
              : [],
        }),
      );
    }
  }

  remove(memberId: string): void {
    const m = this.members.get(memberId);
    if (m === undefined) return;
    this.members.delete(memberId);
    m.joinWaiter?.(joinAnswer(ErrorCode.UNKNOWN_MEMBER_ID));
    m.syncWaiter?.({
      errorCode: ErrorCode.UNKNOWN_MEMBER_ID,
      errorMessage: "removed",
      protocolType: "",
      protocolName: "",
      assignment: Buffer.alloc(0),
    });
    if (this.members.size === 0) {
      clearTimeout(this.rebalanceTimer);
      this.state = "Empty";
    } else {
      this.prepareRebalance();
    }
  }

  close(): void {
    clearTimeout(this.rebalanceTimer);
  }
}

export class FakeGroupCluster {
  readonly calls: RecordedCall[] = [];
  readonly offsets = new Map<string, { offset: number; metadata: string }>();
  /** Error codes to answer the next calls of a method with, in order (then normal answers). */
  readonly injected = new Map<GroupMethod, number[]>();
  readonly groups = new Map<string, FakeGroup>();
  private readonly topics = new Map<string, Buffer[][]>();
  private readonly transports: FakeConsumerTransport[] = [];
  readonly startMs = Date.now();

  constructor(topics: Record<string, number> = {}) {
    for (const [name, count] of Object.entries(topics)) this.createTopic(name, count);
  }

  createTopic(name: string, partitions: number): void {
    this.topics.set(
      name,
      Array.from({ length: partitions }, () => []),
    );
  }

  produce(topic: string, partition: number, values: readonly string[]): void {
    const log = this.topics.get(topic)?.[partition];
    if (log === undefined) throw new Error(`no ${topic}-${partition}`);
    for (const v of values) log.push(Buffer.from(v));
  }

  group(groupId: string): FakeGroup {
    let g = this.groups.get(groupId);
    if (g === undefined) {
      g = new FakeGroup(groupId);
      this.groups.set(groupId, g);
    }
    return g;
  }

  inject(method: GroupMethod, ...codes: number[]): void {
    this.injected.set(method, [...(this.injected.get(method) ?? []), ...codes]);
  }

  takeInjected(method: GroupMethod): number | undefined {
    const queue = this.injected.get(method);
    return queue?.shift();
  }

  callsOf(method: GroupMethod, client?: string): RecordedCall[] {
    return this.calls.filter((c) => c.method === method && (client === undefined || c.client === client));
  }

  record(method: GroupMethod, client: string, request: object): void {
    this.calls.push({ method, client, request: request as Record<string, unknown>, atMs: Date.now() - this.startMs });
  }

  transport(client: string): FakeConsumerTransport {
    const t = new FakeConsumerTransport(this, client);
    this.transports.push(t);
    return t;
  }

  metadataResponse(names: readonly string[]): MetadataResponse {
    const wanted = names.length === 0 ? [...this.topics.keys()] : names;
    return {
      clusterId: "fake",
      controllerId: 1,
      brokers: [{ nodeId: 1, host: "127.0.0.1", port: 1, rack: "" }],
      topics: wanted.map((name) => {
        const logs = this.topics.get(name);
        if (logs === undefined) {
          return {
            errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
            errorMessage: "unknown",
            name,
            topicId: "",
            isInternal: false,
            partitions: [],
          };
        }
        return {
          errorCode: 0,
          errorMessage: "",
          name,
          topicId: name,
          isInternal: false,
          partitions: logs.map((_, partition) => ({
            errorCode: 0,
            partition,
            leaderId: 1,
            leaderEpoch: 0,
            replicaNodes: [1],
            isrNodes: [1],
            offlineReplicas: [],
          })),
        };
      }),
    };
  }

  async fetch(request: FetchRequestInput): Promise<FetchResponse> {
    const build = (): { response: FetchResponse; any: boolean } => {
      let any = false;
      const topics = (request.topics ?? []).map((t) => ({
        name: t.name ?? "",
        partitions: (t.partitions ?? []).map((p) => {
          const log = this.topics.get(t.name ?? "")?.[p.partition ?? 0] ?? [];
          const from = Number(p.fetchOffset ?? 0);
          const values = log.slice(from);
          if (values.length > 0) any = true;
          return {
            partition: p.partition ?? 0,
            errorCode: 0,
            errorMessage: "",
            highWatermark: log.length,
            lastStableOffset: log.length,
            logStartOffset: 0,
            records: [],
            recordBatches:
              values.length > 0
                ? encodeRecordBatch(
                    values.map((value) => ({ value })),
                    { baseOffset: from, baseTimestampMs: 1 },
                  )
                : Buffer.alloc(0),
          };
        }),
      }));
      return { response: { topics } as unknown as FetchResponse, any };
    };
    let built = build();
    if (!built.any) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(20, Number(request.maxWaitMs ?? 0))));
      built = build();
    }
    return built.response;
  }

  listOffsets(request: ListOffsetsRequestInput): ListOffsetsResponse {
    return {
      topics: (request.topics ?? []).map((t) => ({
        name: t.name ?? "",
        partitions: (t.partitions ?? []).map((p) => ({
          partition: p.partition ?? 0,
          errorCode: 0,
          errorMessage: "",
          timestamp: -1,
          offset: Number(p.timestamp) === -2 ? 0 : (this.topics.get(t.name ?? "")?.[p.partition ?? 0]?.length ?? 0),
          leaderEpoch: 0,
        })),
      })),
    } as unknown as ListOffsetsResponse;
  }

  // ---- the group protocol ----

  joinGroup(client: string, request: GroupRequest<JoinGroupRequestInput>): Promise<JoinGroupResponse> {
    this.record("JoinGroup", client, request);
    const injected = this.takeInjected("JoinGroup");
    if (injected !== undefined) return Promise.resolve(joinAnswer(injected, { memberId: request.memberId ?? "" }));
    const g = this.group(request.groupId);
    let memberId = request.memberId ?? "";
    const instanceId = request.groupInstanceId ?? "";
    if (memberId === "" && instanceId !== "") {
      // A static member (re)joining: it replaces any member with its instance id.
      for (const [id, m] of g.members) if (m.instanceId === instanceId) g.members.delete(id);
      memberId = g.newMemberId(request.clientId ?? client);
    } else if (memberId === "") {
      const id = g.newMemberId(request.clientId ?? client);
      g.pendingIds.add(id);
      return Promise.resolve(joinAnswer(ErrorCode.MEMBER_ID_REQUIRED, { memberId: id }));
    } else if (!g.members.has(memberId) && !g.pendingIds.has(memberId)) {
      return Promise.resolve(joinAnswer(ErrorCode.UNKNOWN_MEMBER_ID, { memberId }));
    }
    g.pendingIds.delete(memberId);
    return new Promise<JoinGroupResponse>((resolve) => {
      const existing = g.members.get(memberId);
      const member: Member = {
        memberId,
        instanceId,
        protocols: (request.protocols ?? []).map((p) => ({ name: p.name ?? "", metadata: Buffer.from(p.metadata as Buffer) })),
        rebalanceTimeoutMs: request.rebalanceTimeoutMs ?? 1000,
        joinWaiter: resolve,
        syncWaiter: undefined,
        assignment: existing?.assignment ?? Buffer.alloc(0),
      };
      g.members.set(memberId, member);
      g.prepareRebalance();
    });
  }

  syncGroup(client: string, request: GroupRequest<SyncGroupRequestInput>): Promise<SyncGroupResponse> {
    this.record("SyncGroup", client, request);
    const answer = (errorCode: number, assignment: Buffer = Buffer.alloc(0)): SyncGroupResponse => ({
      errorCode,
      errorMessage: "",
      protocolType: "consumer",
      protocolName: request.protocolName ?? "",
      assignment,
    });
    const injected = this.takeInjected("SyncGroup");
    if (injected !== undefined) return Promise.resolve(answer(injected));
    const g = this.group(request.groupId);
    const m = g.members.get(request.memberId ?? "");
    if (m === undefined) return Promise.resolve(answer(ErrorCode.UNKNOWN_MEMBER_ID));
    if (request.generationId !== g.generationId) return Promise.resolve(answer(ErrorCode.ILLEGAL_GENERATION));
    if (g.state === "PreparingRebalance") return Promise.resolve(answer(ErrorCode.REBALANCE_IN_PROGRESS));
    if (g.state === "Stable") return Promise.resolve(answer(ErrorCode.NONE, m.assignment));
    if (request.memberId === g.leaderId) {
      for (const a of request.assignments ?? []) {
        const target = g.members.get(a.memberId ?? "");
        if (target) target.assignment = Buffer.from(a.assignment as Buffer);
      }
      g.state = "Stable";
      for (const other of g.members.values()) {
        const waiter = other.syncWaiter;
        other.syncWaiter = undefined;
        waiter?.(answer(ErrorCode.NONE, other.assignment));
      }
      return Promise.resolve(answer(ErrorCode.NONE, m.assignment));
    }
    return new Promise((resolve) => {
      m.syncWaiter = resolve;
    });
  }

  heartbeat(client: string, request: GroupRequest<HeartbeatRequestInput>): HeartbeatResponse {
    this.record("Heartbeat", client, request);
    const answer = (errorCode: number): HeartbeatResponse => ({ errorCode, errorMessage: "" });
    const injected = this.takeInjected("Heartbeat");
    if (injected !== undefined) return answer(injected);
    const g = this.group(request.groupId);
    if (!g.members.has(request.memberId ?? "")) return answer(ErrorCode.UNKNOWN_MEMBER_ID);
    if (request.generationId !== g.generationId) return answer(ErrorCode.ILLEGAL_GENERATION);
    if (g.state === "PreparingRebalance") return answer(ErrorCode.REBALANCE_IN_PROGRESS);
    return answer(ErrorCode.NONE);
  }

  leaveGroup(client: string, request: GroupRequest<LeaveGroupRequestInput>): LeaveGroupResponse {
    this.record("LeaveGroup", client, request);
    const g = this.group(request.groupId);
    for (const m of request.members ?? []) g.remove(m.memberId ?? "");
    return { errorCode: 0, errorMessage: "", members: [] };
  }

  offsetCommit(client: string, request: GroupRequest<OffsetCommitRequestInput>): OffsetCommitResponse {
    this.record("OffsetCommit", client, request);
    const g = this.group(request.groupId);
    const injected = this.takeInjected("OffsetCommit");
    let groupCode: number = injected ?? ErrorCode.NONE;
    const member = g.members.get(request.memberId ?? "");
    const checked = injected === undefined && (request.generationId ?? -1) >= 0;
    if (checked) {
      if (member === undefined) groupCode = ErrorCode.UNKNOWN_MEMBER_ID;
      else if (request.generationId !== g.generationId) groupCode = ErrorCode.ILLEGAL_GENERATION;
      else if (g.state === "CompletingRebalance") groupCode = ErrorCode.REBALANCE_IN_PROGRESS;
    }
    const owned = new Set(
      member && member.assignment.length > 0
        ? decodeConsumerAssignment(member.assignment).assignedPartitions.flatMap((a) => a.partitions.map((p) => `${a.topic}-${p}`))
        : [],
    );
    return {
      topics: (request.topics ?? []).map((t) => ({
        name: t.name ?? "",
        partitions: (t.partitions ?? []).map((p) => {
          const code =
            checked && groupCode === ErrorCode.NONE && !owned.has(`${t.name}-${p.partition}`) ? ErrorCode.ILLEGAL_GENERATION : groupCode;
          if (code === ErrorCode.NONE) {
            this.offsets.set(`${request.groupId}/${t.name}-${p.partition}`, {
              offset: Number(p.committedOffset),
              metadata: p.metadata ?? "",
            });
          }
          return { partition: p.partition ?? 0, errorCode: code, errorMessage: "" };
        }),
      })),
    };
  }

  offsetFetch(client: string, request: GroupRequest<OffsetFetchRequestInput>): OffsetFetchResponse {
    this.record("OffsetFetch", client, request);
    return {
      errorCode: 0,
      errorMessage: "",
      topics: (request.topics ?? []).map((t) => ({
        name: t.name ?? "",
        partitions: (t.partitions ?? []).map((partition) => {
          const found = this.offsets.get(`${request.groupId}/${t.name}-${partition}`);
          return {
            partition,
            committedOffset: found?.offset ?? -1,
            committedLeaderEpoch: -1,
            metadata: found?.metadata ?? "",
            errorCode: 0,
            errorMessage: "",
          };
        }),
      })),
    };
  }

  committedOffset(groupId: string, topic: string, partition: number): number | undefined {
    return this.offsets.get(`${groupId}/${topic}-${partition}`)?.offset;
  }

  close(): void {
    for (const g of this.groups.values()) g.close();
  }
}

export class FakeConsumerTransport implements ConsumerTransport {
  readonly metadata = new MetadataCache();
  closed = false;

  constructor(
    private readonly cluster: FakeGroupCluster,
    readonly client: string,
  ) {}

  private check(): void {
    if (this.closed) throw new Error(`transport ${this.client} is closed`);
  }

  async refreshMetadata(topics: readonly string[]): Promise<void> {
    this.check();
    this.metadata.update(this.cluster.metadataResponse(topics));
  }

  async fetchMetadata(topics: readonly string[]): Promise<MetadataResponse> {
    this.check();
    const response = this.cluster.metadataResponse(topics);
    this.metadata.update(response);
    return response;
  }

  async fetch(_nodeId: number, request: FetchRequestInput): Promise<FetchResponse> {
    this.check();
    return this.cluster.fetch(request);
  }

  async listOffsets(_nodeId: number, request: ListOffsetsRequestInput): Promise<ListOffsetsResponse> {
    this.check();
    return this.cluster.listOffsets(request);
  }

  async joinGroup(request: GroupRequest<JoinGroupRequestInput> & { rebalanceTimeoutMs: number }): Promise<JoinGroupResponse> {
    this.check();
    return this.cluster.joinGroup(this.client, request);
  }

  async syncGroup(request: GroupRequest<SyncGroupRequestInput>): Promise<SyncGroupResponse> {
    this.check();
    return this.cluster.syncGroup(this.client, request);
  }

  async heartbeat(request: GroupRequest<HeartbeatRequestInput>): Promise<HeartbeatResponse> {
    this.check();
    return this.cluster.heartbeat(this.client, request);
  }

  async leaveGroup(request: GroupRequest<LeaveGroupRequestInput>): Promise<LeaveGroupResponse> {
    this.check();
    return this.cluster.leaveGroup(this.client, request);
  }

  async offsetCommit(request: GroupRequest<OffsetCommitRequestInput>): Promise<OffsetCommitResponse> {
    this.check();
    return this.cluster.offsetCommit(this.client, request);
  }

  async offsetFetch(request: GroupRequest<OffsetFetchRequestInput>): Promise<OffsetFetchResponse> {
    this.check();
    return this.cluster.offsetFetch(this.client, request);
  }

  close(): void {
    this.closed = true;
  }
}

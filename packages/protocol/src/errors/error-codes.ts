// The one table of wire error codes. Numbers and names are Kafka's (so users, logs and a
// future Kafka-protocol adapter agree); `retriable` alone decides whether a client retries.

export interface ErrorCodeInfo {
  readonly name: string;
  readonly code: number;
  readonly retriable: boolean;
  readonly description: string;
}

const table = {
  UNKNOWN_SERVER_ERROR: [-1, false, "The server hit an unexpected error; see its log."],
  NONE: [0, false, "Success."],
  OFFSET_OUT_OF_RANGE: [1, false, "The requested offset is outside the partition's range of offsets."],
  CORRUPT_MESSAGE: [2, true, "A record batch failed its CRC check or is malformed."],
  UNKNOWN_TOPIC_OR_PARTITION: [3, true, "This server does not host this topic or partition."],
  INVALID_FETCH_SIZE: [4, false, "The requested fetch size is invalid."],
  LEADER_NOT_AVAILABLE: [5, true, "The partition has no leader right now (an election may be in progress)."],
  NOT_LEADER_OR_FOLLOWER: [6, true, "This server is not the leader (or a follower) for that partition."],
  REQUEST_TIMED_OUT: [7, true, "The request timed out."],
  BROKER_NOT_AVAILABLE: [8, false, "The broker is not available."],
  REPLICA_NOT_AVAILABLE: [9, true, "The replica is not available for the requested partition."],
  MESSAGE_TOO_LARGE: [10, false, "The record batch is larger than the maximum the server accepts."],
  OFFSET_METADATA_TOO_LARGE: [12, false, "The metadata string of an offset commit is longer than the server allows."],
  NETWORK_EXCEPTION: [13, true, "The server disconnected before a response was received."],
  COORDINATOR_LOAD_IN_PROGRESS: [14, true, "The coordinator is loading and cannot serve this request yet."],
  COORDINATOR_NOT_AVAILABLE: [15, true, "The coordinator is not available."],
  NOT_COORDINATOR: [16, true, "This is not the correct coordinator."],
  INVALID_TOPIC_EXCEPTION: [17, false, "The topic name is invalid or the operation is not allowed on it."],
  RECORD_LIST_TOO_LARGE: [18, false, "The request's record data is larger than the maximum request size."],
  NOT_ENOUGH_REPLICAS: [19, true, "Fewer in-sync replicas than min.insync.replicas."],
  NOT_ENOUGH_REPLICAS_AFTER_APPEND: [20, true, "Appended, but fewer in-sync replicas than required acknowledged it."],
  INVALID_REQUIRED_ACKS: [21, false, "acks must be 0, 1 or -1 (all)."],
  ILLEGAL_GENERATION: [22, false, "The generation id is not the group's current generation."],
  INCONSISTENT_GROUP_PROTOCOL: [23, false, "The member's protocol type or assignors do not match the group's."],
  INVALID_GROUP_ID: [24, false, "The group id is empty or invalid."],
  UNKNOWN_MEMBER_ID: [25, false, "The member id is not a member of the group's current generation."],
  INVALID_SESSION_TIMEOUT: [26, false, "The session timeout is outside the broker's allowed range."],
  REBALANCE_IN_PROGRESS: [27, false, "The group is rebalancing; the member must rejoin."],
  INVALID_COMMIT_OFFSET_SIZE: [28, false, "The offset commit was rejected because of its size."],
  INVALID_TIMESTAMP: [32, false, "A record timestamp is out of the acceptable range."],
  UNSUPPORTED_VERSION: [35, false, "The version of this API or format is not supported."],
  TOPIC_ALREADY_EXISTS: [36, false, "A topic with this name already exists."],
  INVALID_PARTITIONS: [37, false, "The number of partitions is invalid."],
  INVALID_REPLICATION_FACTOR: [38, false, "The replication factor is invalid."],
  INVALID_REPLICA_ASSIGNMENT: [39, false, "The replica assignment is invalid."],
  INVALID_CONFIG: [40, false, "A configuration name or value is invalid."],
  NOT_CONTROLLER: [41, true, "This is not the active controller."],
  INVALID_REQUEST: [42, false, "The request is malformed or violates the protocol."],
  POLICY_VIOLATION: [44, false, "The request violates a configured policy."],
  KAFKA_STORAGE_ERROR: [56, true, "A disk error occurred while accessing the log."],
  NON_EMPTY_GROUP: [68, false, "The group still has members."],
  GROUP_ID_NOT_FOUND: [69, false, "The group does not exist."],
  TOPIC_DELETION_DISABLED: [73, false, "Topic deletion is disabled (delete.topic.enable=false)."],
  FENCED_LEADER_EPOCH: [74, true, "The leader epoch in the request is older than the replica's."],
  UNKNOWN_LEADER_EPOCH: [75, true, "The leader epoch in the request is newer than the replica's."],
  UNSUPPORTED_COMPRESSION_TYPE: [76, false, "The compression type of the batch is not supported."],
  STALE_BROKER_EPOCH: [77, false, "The broker epoch in the request is not the broker's current registration."],
  OFFSET_NOT_AVAILABLE: [78, true, "The leader's high watermark is not available yet."],
  MEMBER_ID_REQUIRED: [79, false, "The member must rejoin with the member id the coordinator assigned."],
  PREFERRED_LEADER_NOT_AVAILABLE: [80, true, "The preferred leader is not in the ISR or not live."],
  GROUP_MAX_SIZE_REACHED: [81, false, "The group has reached group.max.size members."],
  FENCED_INSTANCE_ID: [82, false, "Another member with the same group.instance.id has replaced this one."],
  ELIGIBLE_LEADERS_NOT_AVAILABLE: [83, true, "No eligible replica can become the partition's leader."],
  ELECTION_NOT_NEEDED: [84, false, "The partition's leader is already the one asked for."],
  INVALID_RECORD: [87, false, "A record in the batch is invalid."],
  DUPLICATE_BROKER_REGISTRATION: [101, false, "Another live incarnation of this broker id is registered."],
  BROKER_ID_NOT_REGISTERED: [102, false, "The broker id is not registered with the controller."],
  INCONSISTENT_CLUSTER_ID: [104, false, "The request's cluster id is not this cluster's."],
  INELIGIBLE_REPLICA: [107, false, "The new ISR contains a replica that is fenced, shutting down, or not a replica of the partition."],
  INVALID_UPDATE_VERSION: [119, false, "The partition epoch in the request is stale."],
} as const satisfies Record<string, readonly [number, boolean, string]>;

export type ErrorName = keyof typeof table;

const byName = new Map<ErrorName, ErrorCodeInfo>();
const byCode = new Map<number, ErrorCodeInfo>();
for (const [name, [code, retriable, description]] of Object.entries(table)) {
  const info: ErrorCodeInfo = { name, code, retriable, description };
  byName.set(name as ErrorName, info);
  byCode.set(code, info);
}

export const ErrorCode = Object.fromEntries(Object.entries(table).map(([name, [code]]) => [name, code])) as {
  readonly [K in ErrorName]: (typeof table)[K][0];
};

export function errorInfo(name: ErrorName): ErrorCodeInfo {
  return byName.get(name) as ErrorCodeInfo;
}

/** Unknown numbers come back as UNKNOWN_SERVER_ERROR's info with the number preserved. */
export function errorInfoForCode(code: number): ErrorCodeInfo {
  return byCode.get(code) ?? { ...(byName.get("UNKNOWN_SERVER_ERROR") as ErrorCodeInfo), code };
}

export function isRetriableCode(code: number): boolean {
  return errorInfoForCode(code).retriable;
}

export function errorNameForCode(code: number): string {
  return byCode.get(code)?.name ?? `UNKNOWN_ERROR_${code}`;
}

export const allErrorCodes: readonly ErrorCodeInfo[] = [...byName.values()];

export function isErrorName(text: string): text is ErrorName {
  return byName.has(text as ErrorName);
}

// The encoding of metadata records in the Raft log and in snapshots: UTF-8 JSON, one object per
// record, `{"v":<version>,"type":<type>,...fields}` with the fields in the fixed order of the
// schema below, so equal records encode to equal bytes (golden bytes in
// test/fixtures/records-v1.jsonl). A Raft entry holds one batch (a JSON array of records), which
// the controller writes atomically: a batch is applied whole or not at all.
//
// Versions are per record type, like KRaft's. The decoder refuses an unknown type, an unknown
// version, a missing or mistyped field and any extra field: a node must never guess at a record
// it does not understand (a newer node's record means this node needs upgrading).

import { CastleError } from "@castle/common";
import type { BrokerEndpoint, MetadataRecord, MetadataRecordType } from "./metadata-record.js";

type FieldKind = "nonNegativeInt" | "leaderId" | "string" | "nullableString" | "boolean" | "brokerIdList" | "endpoints" | "resourceType";

interface FieldSpec {
  readonly name: string;
  readonly kind: FieldKind;
  readonly optional?: boolean;
}

interface RecordSchema {
  readonly version: number;
  readonly fields: readonly FieldSpec[];
}

const req = (name: string, kind: FieldKind): FieldSpec => ({ name, kind });
const opt = (name: string, kind: FieldKind): FieldSpec => ({ name, kind, optional: true });

/** Field order is the encoding order: never reorder a field within a version. */
export const RECORD_SCHEMAS: Readonly<Record<MetadataRecordType, RecordSchema>> = {
  RegisterBroker: {
    version: 1,
    fields: [
      req("brokerId", "nonNegativeInt"),
      req("incarnationId", "string"),
      req("brokerEpoch", "nonNegativeInt"),
      req("endpoints", "endpoints"),
      req("rack", "nullableString"),
      req("fenced", "boolean"),
    ],
  },
  UnregisterBroker: { version: 1, fields: [req("brokerId", "nonNegativeInt"), req("brokerEpoch", "nonNegativeInt")] },
  FenceBroker: { version: 1, fields: [req("brokerId", "nonNegativeInt"), req("brokerEpoch", "nonNegativeInt")] },
  UnfenceBroker: { version: 1, fields: [req("brokerId", "nonNegativeInt"), req("brokerEpoch", "nonNegativeInt")] },
  Topic: { version: 1, fields: [req("name", "string"), req("topicId", "string")] },
  Partition: {
    version: 1,
    fields: [
      req("topicId", "string"),
      req("partition", "nonNegativeInt"),
      req("replicas", "brokerIdList"),
      req("isr", "brokerIdList"),
      req("leader", "leaderId"),
      req("leaderEpoch", "nonNegativeInt"),
      req("partitionEpoch", "nonNegativeInt"),
    ],
  },
  PartitionChange: {
    version: 1,
    fields: [
      req("topicId", "string"),
      req("partition", "nonNegativeInt"),
      opt("leader", "leaderId"),
      opt("isr", "brokerIdList"),
      opt("replicas", "brokerIdList"),
    ],
  },
  Config: {
    version: 1,
    fields: [req("resourceType", "resourceType"), req("resourceName", "string"), req("name", "string"), req("value", "nullableString")],
  },
  RemoveTopic: { version: 1, fields: [req("topicId", "string")] },
  ProducerIds: {
    version: 1,
    fields: [req("brokerId", "nonNegativeInt"), req("brokerEpoch", "nonNegativeInt"), req("nextProducerId", "nonNegativeInt")],
  },
};

/** A metadata record or batch that this node cannot read: corrupt, or written by a newer version. */
export class MetadataDecodeError extends CastleError<"METADATA_RECORD_INVALID"> {
  constructor(message: string) {
    super("METADATA_RECORD_INVALID", message);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** The record as a plain JSON-ready object in schema order (used by batches and snapshots). */
export function recordToJson(record: MetadataRecord): Record<string, unknown> {
  const schema = RECORD_SCHEMAS[record.type];
  const source = record as unknown as Readonly<Record<string, unknown>>;
  const out: Record<string, unknown> = { v: schema.version, type: record.type };
  for (const field of schema.fields) {
    const value = source[field.name];
    if (value === undefined) continue;
    // Endpoints are re-built so their key order (and so the bytes) never depends on the caller.
    out[field.name] =
      field.kind === "endpoints" ? (value as readonly BrokerEndpoint[]).map((e) => ({ name: e.name, host: e.host, port: e.port })) : value;
  }
  return out;
}

/** Validates one parsed JSON value as a record; throws MetadataDecodeError naming what is wrong. */
export function recordFromJson(value: unknown, where = "metadata record"): MetadataRecord {
  if (!isPlainObject(value)) throw new MetadataDecodeError(`${where} is not a JSON object`);
  const { v, type } = value;
  if (typeof type !== "string" || !Object.hasOwn(RECORD_SCHEMAS, type)) {
    throw new MetadataDecodeError(
      `${where} has unknown type ${JSON.stringify(type)}; this node reads ${Object.keys(RECORD_SCHEMAS).join(", ")}`,
    );
  }
  const schema = RECORD_SCHEMAS[type as MetadataRecordType];
  if (v !== schema.version) {
    throw new MetadataDecodeError(
      `${where} of type ${type} has version ${JSON.stringify(v)}; this node reads version ${schema.version} (a newer node wrote it? upgrade this node)`,
    );
  }
  const known = new Set(["v", "type", ...schema.fields.map((f) => f.name)]);
  for (const key of Object.keys(value)) {
    if (!known.has(key)) throw new MetadataDecodeError(`${where} of type ${type} v${schema.version} has unknown field "${key}"`);
  }
  const out: Record<string, unknown> = { type };
  for (const field of schema.fields) {
    const fieldValue = value[field.name];
    if (fieldValue === undefined) {
      if (field.optional) continue;
      throw new MetadataDecodeError(`${where} of type ${type} is missing field "${field.name}"`);
    }
    const problem = kindProblem(field.kind, fieldValue);
    if (problem) throw new MetadataDecodeError(`${where} of type ${type}: field "${field.name}" ${problem}`);
    out[field.name] = fieldValue;
  }
  return out as unknown as MetadataRecord;
}

export function encodeMetadataRecord(record: MetadataRecord): Uint8Array {
  return encoder.encode(JSON.stringify(recordToJson(record)));
}

export function decodeMetadataRecord(bytes: Uint8Array): MetadataRecord {
  return recordFromJson(parseJson(bytes, "metadata record"));
}

/** One Raft entry's payload: the records of one controller decision, applied atomically. */
export function encodeMetadataBatch(records: readonly MetadataRecord[]): Uint8Array {
  return encoder.encode(JSON.stringify(records.map(recordToJson)));
}

export function decodeMetadataBatch(bytes: Uint8Array): MetadataRecord[] {
  const parsed = parseJson(bytes, "metadata batch");
  if (!Array.isArray(parsed)) throw new MetadataDecodeError("metadata batch is not a JSON array of records");
  return parsed.map((item: unknown, index) => recordFromJson(item, `metadata batch record ${index}`));
}

export function parseJson(bytes: Uint8Array, what: string): unknown {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw new MetadataDecodeError(`${what} is not valid UTF-8 (${bytes.length} bytes)`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new MetadataDecodeError(`${what} is not valid JSON: ${(error as Error).message}`);
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function kindProblem(kind: FieldKind, value: unknown): string | null {
  switch (kind) {
    case "nonNegativeInt":
      return Number.isSafeInteger(value) && (value as number) >= 0 ? null : "is not a non-negative integer";
    case "leaderId":
      return Number.isSafeInteger(value) && (value as number) >= -1 ? null : "is not a broker id or -1";
    case "string":
      return typeof value === "string" ? null : "is not a string";
    case "nullableString":
      return value === null || typeof value === "string" ? null : "is not a string or null";
    case "boolean":
      return typeof value === "boolean" ? null : "is not a boolean";
    case "brokerIdList":
      return Array.isArray(value) && value.every((id) => Number.isSafeInteger(id) && (id as number) >= 0)
        ? null
        : "is not a list of broker ids";
    case "resourceType":
      return value === "topic" || value === "broker" ? null : 'is not "topic" or "broker"';
    case "endpoints":
      return Array.isArray(value) && value.every(isEndpoint) ? null : "is not a list of {name, host, port}";
  }
}

function isEndpoint(value: unknown): boolean {
  if (!isPlainObject(value)) return false;
  const keys = Object.keys(value);
  return (
    keys.length === 3 &&
    typeof value["name"] === "string" &&
    typeof value["host"] === "string" &&
    Number.isInteger(value["port"]) &&
    (value["port"] as number) >= 0 &&
    (value["port"] as number) <= 65535
  );
}

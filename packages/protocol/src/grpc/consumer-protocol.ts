// The consumer protocol's payloads (castle.v1.ConsumerSubscription and ConsumerAssignment in
// group.proto): opaque bytes to the coordinator, encoded and decoded by consumers and by admin
// tools that show assignments. protobufjs reads the same .proto file gRPC serves, so a client
// generated in another language agrees byte for byte.

import protobuf from "protobufjs";
import { protocolError } from "../errors/protocol-error.js";
import { protoRoot } from "./load-castle-proto.js";
import type { ConsumerAssignment, ConsumerAssignmentInput, ConsumerSubscription, ConsumerSubscriptionInput } from "./wire-types.js";

/** The protocol_type consumers use in JoinGroup. */
export const CONSUMER_PROTOCOL_TYPE = "consumer";

interface ConsumerProtocolTypes {
  subscription: protobuf.Type;
  assignment: protobuf.Type;
}

let types: ConsumerProtocolTypes | undefined;

function consumerProtocolTypes(): ConsumerProtocolTypes {
  if (types) return types;
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (target.startsWith("/") ? target : `${protoRoot()}/${target}`);
  root.loadSync("castle/v1/group.proto", { keepCase: false });
  types = {
    subscription: root.lookupType("castle.v1.ConsumerSubscription"),
    assignment: root.lookupType("castle.v1.ConsumerAssignment"),
  };
  return types;
}

const DECODE_OPTIONS: protobuf.IConversionOptions = { longs: Number, enums: String, bytes: Buffer, defaults: true, arrays: true };

function decode<T>(type: protobuf.Type, bytes: Uint8Array, what: string): T {
  try {
    const message = type.decode(bytes);
    return type.toObject(message, DECODE_OPTIONS) as T;
  } catch (error) {
    throw protocolError("INVALID_REQUEST", `the ${what} is not a valid castle.v1.${type.name}: ${(error as Error).message}`);
  }
}

function encode(type: protobuf.Type, value: object): Buffer {
  const problem = type.verify(value);
  if (problem !== null) throw protocolError("INVALID_REQUEST", `cannot encode castle.v1.${type.name}: ${problem}`);
  return Buffer.from(type.encode(type.fromObject(value)).finish());
}

export function encodeConsumerSubscription(value: ConsumerSubscriptionInput): Buffer {
  return encode(consumerProtocolTypes().subscription, { generationId: -1, ...value });
}

export function decodeConsumerSubscription(bytes: Uint8Array): ConsumerSubscription {
  return decode(consumerProtocolTypes().subscription, bytes, "member subscription");
}

export function encodeConsumerAssignment(value: ConsumerAssignmentInput): Buffer {
  return encode(consumerProtocolTypes().assignment, value);
}

export function decodeConsumerAssignment(bytes: Uint8Array): ConsumerAssignment {
  return decode(consumerProtocolTypes().assignment, bytes, "member assignment");
}

// Loads proto/castle/v1 at run time for @grpc/grpc-js. The options must match the ones
// scripts/gen-proto.mjs passes to proto-loader-gen-types, or the generated types would lie.

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { ProtoGrpcType as AdminProto } from "../generated/admin.js";
import type { ProtoGrpcType as BrokerProto } from "../generated/broker.js";
import type { ProtoGrpcType as ControllerProto } from "../generated/controller.js";
import type { ProtoGrpcType as GroupProto } from "../generated/group.js";
import type { ProtoGrpcType as RaftProto } from "../generated/raft.js";

export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  arrays: true,
};

export const PROTO_FILES = [
  "castle/v1/records.proto",
  "castle/v1/broker.proto",
  "castle/v1/admin.proto",
  "castle/v1/raft.proto",
  "castle/v1/controller.proto",
  "castle/v1/group.proto",
] as const;

/** The repository's proto/ directory (the one source of truth for the wire). */
export function protoRoot(): string {
  const candidates = [new URL("../../../../proto", import.meta.url), new URL("../../proto", import.meta.url)];
  for (const candidate of candidates) {
    const path = fileURLToPath(candidate);
    if (existsSync(`${path}/castle/v1/broker.proto`)) return path;
  }
  throw new Error(`cannot find proto/castle/v1 near ${fileURLToPath(import.meta.url)}`);
}

export type CastleProto = BrokerProto & AdminProto & RaftProto & ControllerProto & GroupProto;

let cached: CastleProto | undefined;

/** The loaded package object: `castle.v1.Broker`, `castle.v1.Admin`, `castle.v1.Raft` (clients and service definitions). */
export function loadCastleProto(): CastleProto {
  if (cached) return cached;
  const definition = protoLoader.loadSync([...PROTO_FILES], { ...PROTO_LOADER_OPTIONS, includeDirs: [protoRoot()] });
  cached = grpc.loadPackageDefinition(definition) as unknown as CastleProto;
  return cached;
}

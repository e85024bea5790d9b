export * from "./errors/error-codes.js";
export * from "./errors/protocol-error.js";
export * from "./grpc/flow-control.js";
export * from "./grpc/load-castle-proto.js";
export type * from "./grpc/wire-types.js";
export * from "./record-batch/batch-header.js";
export * from "./record-batch/crc32c.js";
export * from "./record-batch/record-batch.js";
export * from "./record-batch/varint.js";

// Branded number types: an Offset can never be passed where a byte count or a node id is
// expected without an explicit conversion at the boundary.

declare const brand: unique symbol;
export type Brand<T, B extends string> = T & { readonly [brand]: B };

/** A record's position in a partition log. Safe integer (< 2^53). */
export type Offset = Brand<number, "Offset">;
export type PartitionId = Brand<number, "PartitionId">;
export type NodeId = Brand<number, "NodeId">;
export type LeaderEpoch = Brand<number, "LeaderEpoch">;

export const asOffset = (n: number): Offset => n as Offset;
export const asPartitionId = (n: number): PartitionId => n as PartitionId;
export const asNodeId = (n: number): NodeId => n as NodeId;
export const asLeaderEpoch = (n: number): LeaderEpoch => n as LeaderEpoch;

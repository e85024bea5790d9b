export * from "./config/broker-config.js";
export * from "./config/node-roles.js";
export * from "./config/topic-config.js";
export type { BrokerContext } from "./handlers/broker-context.js";
export { type NodePorts, type RunningNode, startNode } from "./node.js";
export { newId } from "./storage-format/legacy-registry.js";
export * from "./storage-format/meta-properties.js";
export * from "./storage-format/node-identity.js";

export * from "./config/broker-config.js";
export * from "./config/topic-config.js";
export type { BrokerContext } from "./handlers/broker-context.js";
export { type NodePorts, type RunningNode, startNode } from "./node.js";

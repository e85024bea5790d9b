export * from "./fault-network.js";
export * from "./fault-proxy.js";
export * from "./link-faults.js";
export type { ProxyTarget } from "./proxied-connection.js";

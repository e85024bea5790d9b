export * from "./cluster/castle-cluster.js";
export * from "./in-process-node.js";
export * from "./node-process.js";
export * from "./output-lines.js";
export * from "./raft/index.js";
export * from "./sim/index.js";
export * from "./temp-dir.js";
export * from "./wait.js";

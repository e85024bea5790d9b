export * from "./list-state-machine.js";
export * from "./raft-child-protocol.js";
export * from "./raft-process-cluster.js";

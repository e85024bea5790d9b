export * from "./event-queue.js";
export * from "./run-seed.js";
export * from "./safety-checker.js";
export * from "./sim-network.js";
export * from "./sim-node.js";
export * from "./simulation.js";
export * from "./state-machine.js";
export * from "./trace.js";

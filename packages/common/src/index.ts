export * from "./castle-error.js";
export * from "./clock.js";
export * from "./condition-waiters.js";
export * from "./ids.js";
export * from "./invariant.js";
export * from "./logger.js";
export * from "./random.js";

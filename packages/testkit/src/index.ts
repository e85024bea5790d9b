export * from "./node-process.js";
export * from "./temp-dir.js";

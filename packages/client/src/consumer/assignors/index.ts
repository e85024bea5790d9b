export * from "./assignor.js";
export * from "./assignor-by-name.js";
export * from "./cooperative-sticky.js";
export * from "./range.js";
export * from "./round-robin.js";

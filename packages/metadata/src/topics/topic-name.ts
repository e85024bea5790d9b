// Kafka's topic-name rules: 1-249 characters of [a-zA-Z0-9._-], not "." or "..".
// Names that differ only by '.' vs '_' collide in metric names, so Kafka refuses the second.

export const TOPIC_NAME_LENGTH_MAX = 249;
const legal = /^[a-zA-Z0-9._-]+$/;

/** Returns why `name` is not a legal topic name, or null if it is. */
export function topicNameProblem(name: string): string | null {
  if (name.length === 0) return "topic name is empty";
  if (name === "." || name === "..") return `topic name "${name}" is not allowed`;
  if (name.length > TOPIC_NAME_LENGTH_MAX) return `topic name is ${name.length} characters; the maximum is ${TOPIC_NAME_LENGTH_MAX}`;
  if (!legal.test(name)) return `topic name "${name}" has characters other than ASCII letters, digits, '.', '_' and '-'`;
  return null;
}

export function topicNamesCollide(a: string, b: string): boolean {
  return a !== b && a.replace(/\./g, "_") === b.replace(/\./g, "_");
}

export function isInternalTopic(name: string): boolean {
  return name.startsWith("__");
}

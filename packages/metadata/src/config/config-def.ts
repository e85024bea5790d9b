// One way to declare, parse and validate a config key, shared by broker (node) and topic configs.
// A definition names its type, default, bounds and documentation; parse() turns a string
// (from a file, env, flag, the wire or a metadata record) into a typed value or a readable error.

/**
 * double: a finite decimal number within [min, max]. list: a comma list of distinct `values`
 * (Kafka's list configs such as cleanup.policy=compact,delete), normalised to "a,b".
 */
export type ConfigType = "int" | "long" | "double" | "boolean" | "string" | "enum" | "list";
export type ConfigValue = number | boolean | string;

export interface ConfigDef {
  readonly name: string;
  readonly type: ConfigType;
  readonly defaultValue: ConfigValue;
  readonly doc: string;
  readonly min?: number;
  readonly max?: number;
  readonly values?: readonly string[];
}

const INT32_MAX = 2147483647;
const DECIMAL_PATTERN = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** Parses `raw` for `def`; returns the value or throws an Error whose message names the key and the accepted range. */
export function parseConfigValue(def: ConfigDef, raw: string): ConfigValue {
  const text = raw.trim();
  switch (def.type) {
    case "boolean":
      if (text === "true") return true;
      if (text === "false") return false;
      throw new Error(`${def.name}=${raw} is not a boolean; use true or false`);
    case "string":
      return text;
    case "enum":
      if (def.values?.includes(text)) return text;
      throw new Error(`${def.name}=${raw} is not one of ${def.values?.join(", ")}`);
    case "list": {
      const items = text.split(",").map((item) => item.trim());
      const allowed = def.values ?? [];
      const unknown = items.filter((item) => !allowed.includes(item));
      if (unknown.length > 0) {
        throw new Error(
          `${def.name}=${raw} is not a comma list of ${allowed.join(", ")} (${unknown.map((u) => JSON.stringify(u)).join(", ")} is not one)`,
        );
      }
      if (new Set(items).size !== items.length) throw new Error(`${def.name}=${raw} names a value twice`);
      return items.join(",");
    }
    case "double": {
      const value = Number(text);
      if (!DECIMAL_PATTERN.test(text) || !Number.isFinite(value)) throw new Error(`${def.name}=${raw} is not a number`);
      const min = def.min ?? -Number.MAX_VALUE;
      const max = def.max ?? Number.MAX_VALUE;
      if (value < min || value > max) throw new Error(`${def.name}=${raw} is out of range; it must be between ${min} and ${max}`);
      return value;
    }
    case "int":
    case "long": {
      if (!/^-?\d+$/.test(text)) throw new Error(`${def.name}=${raw} is not an integer`);
      const value = Number(text);
      const max = def.max ?? (def.type === "int" ? INT32_MAX : Number.MAX_SAFE_INTEGER);
      const min = def.min ?? (def.type === "int" ? -INT32_MAX - 1 : Number.MIN_SAFE_INTEGER);
      if (!Number.isSafeInteger(value) || value < min || value > max) {
        throw new Error(`${def.name}=${raw} is out of range; it must be between ${min} and ${max}`);
      }
      return value;
    }
  }
}

export function formatConfigValue(value: ConfigValue): string {
  return String(value);
}

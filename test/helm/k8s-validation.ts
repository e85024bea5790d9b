// Checks a rendered object against the Kubernetes API's own schemas, offline, the two ways the
// API server would refuse it:
// - types, required fields, enums and formats (int32, int-or-string, quantities): the JSON
//   schemas kubernetes-models compiles from Kubernetes' OpenAPI spec (v1.27), and
//   @kubernetes-models/prometheus-operator's from the prometheus-operator CRDs;
// - unknown fields (what `kubectl apply --validate=strict` and server-side strict field
//   validation refuse, and what the OpenAPI schemas alone let through): every key must be a
//   field of its type in the OpenAPI-generated models of @kubernetes/client-node (spec
//   release-1.36), walked from the kind's top-level type.
// Built-in kinds get both checks; a custom resource gets the first only.

import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { K8sObject } from "./chart-renderer.js";

const require = createRequire(import.meta.url);

/** apiVersion -> the module with its kinds' model classes. */
const MODEL_MODULES: Readonly<Record<string, string>> = {
  v1: "kubernetes-models/v1",
  "apps/v1": "kubernetes-models/apps/v1",
  "policy/v1": "kubernetes-models/policy/v1",
  "monitoring.coreos.com/v1": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
};
/** API groups whose kinds are built in, so client-node has their field lists. */
const BUILT_IN_GROUPS = new Set(["", "apps", "policy", "batch", "networking.k8s.io", "rbac.authorization.k8s.io", "autoscaling"]);

interface ValidatingModel {
  validate(): void;
}
type ModelClass = new (data: K8sObject) => ValidatingModel;
interface Attribute {
  readonly baseName: string;
  readonly type: string;
}
interface FieldModel {
  readonly attributeTypeMap?: readonly Attribute[];
}

const clientNodeModels = join(dirname(require.resolve("@kubernetes/client-node/package.json")), "dist/gen/models");
const fieldModels = new Map<string, readonly Attribute[] | undefined>();

async function fieldsOf(typeName: string): Promise<readonly Attribute[] | undefined> {
  if (!fieldModels.has(typeName)) {
    const file = join(clientNodeModels, `${typeName}.js`);
    const module = existsSync(file) ? ((await import(file)) as Record<string, FieldModel | undefined>) : {};
    fieldModels.set(typeName, module[typeName]?.attributeTypeMap);
  }
  return fieldModels.get(typeName);
}

/** client-node's name of a kind's type: V1StatefulSet, V1PodDisruptionBudget, V2HorizontalPodAutoscaler. */
function topLevelType(apiVersion: string, kind: string): string {
  const version = apiVersion.includes("/") ? apiVersion.slice(apiVersion.indexOf("/") + 1) : apiVersion;
  return `${version.charAt(0).toUpperCase()}${version.slice(1)}${kind}`;
}

const ARRAY_TYPE = /^Array<(.+)>$/;
const MAP_TYPE = /^\{ \[key: string\]: (.+); \}$/;
const PRIMITIVE_TYPES = new Set(["string", "number", "boolean", "Date", "any", "IntOrString", "object"]);

/**
 * Unknown fields under `value` of client-node type `typeName`, as "path: ..." lines. Types of
 * primitives are left to the JSON schemas (a quantity may be a number or a string there).
 */
async function unknownFields(value: unknown, typeName: string, path: string, problems: string[]): Promise<void> {
  if (value === null || value === undefined || PRIMITIVE_TYPES.has(typeName)) return;
  const array = ARRAY_TYPE.exec(typeName);
  if (array) {
    if (!Array.isArray(value)) return void problems.push(`${path}: expected a list`);
    for (const [i, item] of value.entries()) await unknownFields(item, array[1] as string, `${path}[${i}]`, problems);
    return;
  }
  if (typeof value !== "object" || Array.isArray(value)) return void problems.push(`${path}: expected an object`);
  const map = MAP_TYPE.exec(typeName);
  if (map) {
    for (const [key, item] of Object.entries(value)) await unknownFields(item, map[1] as string, `${path}.${key}`, problems);
    return;
  }
  const fields = await fieldsOf(typeName);
  if (fields === undefined) return void problems.push(`${path}: no field list for type ${typeName}`);
  for (const [key, item] of Object.entries(value)) {
    const field = fields.find((f) => f.baseName === key);
    if (field === undefined) {
      problems.push(`${path}.${key}: unknown field "${key}" (${typeName} has ${fields.map((f) => f.baseName).join(", ")})`);
    } else {
      await unknownFields(item, field.type, `${path}.${key}`, problems);
    }
  }
}

/** Every way `object` breaks the Kubernetes API's schemas; empty when it would be accepted. */
export async function k8sSchemaProblems(object: K8sObject): Promise<string[]> {
  const { apiVersion, kind } = object;
  if (typeof apiVersion !== "string" || typeof kind !== "string") return ["apiVersion and kind must be strings"];
  const moduleName = MODEL_MODULES[apiVersion];
  if (moduleName === undefined) return [`${apiVersion} is not an API version this validator knows`];
  const models = (await import(moduleName)) as Record<string, ModelClass | undefined>;
  const Model = models[kind];
  if (Model === undefined) return [`${apiVersion} has no kind ${kind}`];
  const problems: string[] = [];
  try {
    new Model(object).validate();
  } catch (error) {
    problems.push(`schema: ${(error as Error).message}`);
  }
  const group = apiVersion.includes("/") ? apiVersion.slice(0, apiVersion.indexOf("/")) : "";
  if (BUILT_IN_GROUPS.has(group)) await unknownFields(object, topLevelType(apiVersion, kind), kind, problems);
  return problems;
}

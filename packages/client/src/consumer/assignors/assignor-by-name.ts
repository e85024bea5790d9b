// The assignors a consumer can name in its partition assignment strategy (Kafka's
// partition.assignment.strategy), looked up by the protocol name members advertise in JoinGroup.
// Assignors are stateless, so one shared instance of each serves every consumer.

import { configError } from "../../errors/wire-error.js";
import type { PartitionAssignor } from "./assignor.js";
import { CooperativeStickyAssignor } from "./cooperative-sticky.js";
import { RangeAssignor } from "./range.js";
import { RoundRobinAssignor } from "./round-robin.js";

const assignors: readonly PartitionAssignor[] = [new RangeAssignor(), new RoundRobinAssignor(), new CooperativeStickyAssignor()];

/** Every built-in assignor's protocol name: "range", "roundrobin", "cooperative-sticky". */
export const ASSIGNOR_NAMES: readonly string[] = assignors.map((a) => a.name);

/**
 * Kafka 3.x's default strategy, in preference order: range, with cooperative-sticky also
 * advertised so a group can move to cooperative rebalancing by a rolling restart that drops range.
 */
export const DEFAULT_ASSIGNORS: readonly PartitionAssignor[] = [assignorByName("range"), assignorByName("cooperative-sticky")];

/** @throws ClientConfigError naming the known assignors when `name` is not one of them. */
export function assignorByName(name: string): PartitionAssignor {
  const assignor = assignors.find((a) => a.name === name);
  if (assignor === undefined) {
    throw configError(`unknown partition assignor '${name}': use one of ${ASSIGNOR_NAMES.map((n) => `'${n}'`).join(", ")}`);
  }
  return assignor;
}

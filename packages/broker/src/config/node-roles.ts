// The node's place in the cluster, parsed from `process.roles` and `controller.quorum.voters`
// (KIP-500/KIP-631 names), and the rules that tie them to `node.id`. Pure: text in, parsed
// values and readable problems out; loadBrokerConfig reports the problems with the rest.

export type ProcessRole = "broker" | "controller";
export const PROCESS_ROLES: readonly ProcessRole[] = ["broker", "controller"];

/** One member of the metadata quorum: `id@host:port` in controller.quorum.voters. */
export interface QuorumVoter {
  readonly id: number;
  readonly host: string;
  readonly port: number;
}

export interface ParseResult<T> {
  readonly value: T;
  readonly problems: string[];
}

const isRole = (text: string): text is ProcessRole => (PROCESS_ROLES as readonly string[]).includes(text);

/** `broker,controller` (any order, spaces allowed) to a set; every name must be known, and one at least. */
export function parseProcessRoles(text: string): ParseResult<ReadonlySet<ProcessRole>> {
  const roles = new Set<ProcessRole>();
  const problems: string[] = [];
  const names = text
    .split(",")
    .map((n) => n.trim())
    .filter((n) => n !== "");
  if (names.length === 0) problems.push(`process.roles is empty; set it to broker, controller or broker,controller`);
  for (const name of names) {
    if (isRole(name)) roles.add(name);
    else problems.push(`process.roles has unknown role "${name}"; use broker, controller or both (broker,controller)`);
  }
  return { value: roles, problems };
}

/** `1@host1:9093,2@host2:9093` to voters; `[::1]` style hosts are accepted. Empty text = no list. */
export function parseQuorumVoters(text: string): ParseResult<QuorumVoter[]> {
  return parseNodeAddresses(text, "controller.quorum.voters");
}

/** An `id@host:port,...` list (of config `key`, named in every problem) to entries; ids unique. */
export function parseNodeAddresses(text: string, key: string): ParseResult<QuorumVoter[]> {
  const voters: QuorumVoter[] = [];
  const problems: string[] = [];
  const entries = text
    .split(",")
    .map((e) => e.trim())
    .filter((e) => e !== "");
  for (const entry of entries) {
    const match = /^(\d+)@(\[[^\]]+\]|[^:@[\]]+):(\d+)$/.exec(entry);
    if (!match) {
      problems.push(`${key} entry "${entry}" is not id@host:port; write e.g. 1@host1:9093,2@host2:9093,3@host3:9093`);
      continue;
    }
    const [, idText = "", rawHost = "", portText = ""] = match;
    const id = Number(idText);
    const port = Number(portText);
    if (!Number.isSafeInteger(id) || id > 2147483647) {
      problems.push(`${key} entry "${entry}" has node id ${idText}; use 0..2147483647`);
      continue;
    }
    if (port < 1 || port > 65535) {
      problems.push(`${key} entry "${entry}" has port ${portText}; use 1..65535`);
      continue;
    }
    if (voters.some((v) => v.id === id)) {
      problems.push(`${key} lists node id ${id} twice; give every node its own node.id`);
      continue;
    }
    voters.push({ id, host: rawHost.replace(/^\[(.*)\]$/, "$1"), port });
  }
  return { value: voters, problems };
}

export function formatQuorumVoters(voters: readonly QuorumVoter[]): string {
  return voters.map((v) => `${v.id}@${v.host.includes(":") ? `[${v.host}]` : v.host}:${v.port}`).join(",");
}

/**
 * Cross-key rules (Kafka's KafkaConfig validation for KRaft): a controller must be one of the
 * voters under its own node.id; a broker-only node must not be, and needs the list to find the
 * controllers. An empty list is the single-node default (this node is the only voter).
 */
export function nodeRoleProblems(nodeId: number, roles: ReadonlySet<ProcessRole>, voters: readonly QuorumVoter[]): string[] {
  const problems: string[] = [];
  const listed = voters.some((v) => v.id === nodeId);
  const ids = voters.map((v) => v.id).join(", ");
  if (voters.length === 0) {
    if (roles.size > 0 && !roles.has("controller")) {
      problems.push(
        "process.roles=broker needs controller.quorum.voters to find the controllers; list them (id@host:port,...) or add the controller role",
      );
    }
    return problems;
  }
  if (roles.has("controller") && !listed) {
    problems.push(
      `node.id ${nodeId} has the controller role but is not in controller.quorum.voters (ids ${ids}); add ${nodeId}@host:port to the list or fix node.id`,
    );
  }
  if (!roles.has("controller") && roles.size > 0 && listed) {
    problems.push(
      `node.id ${nodeId} is in controller.quorum.voters but process.roles has no controller; add controller to process.roles or remove ${nodeId} from the voters`,
    );
  }
  return problems;
}

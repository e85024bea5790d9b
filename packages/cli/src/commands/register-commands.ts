// The command registry: every `castle` subcommand is attached here, one file per command.

import type { Command } from "commander";
import { registerClusterDescribe } from "./cluster-describe.js";
import { registerConsume } from "./consume.js";
import { registerGroupDelete } from "./group-delete.js";
import { registerGroupDescribe } from "./group-describe.js";
import { registerGroupList } from "./group-list.js";
import { registerGroupResetOffsets } from "./group-reset-offsets.js";
import { registerLogDump } from "./log-dump.js";
import { registerPerfConsume } from "./perf-consume.js";
import { registerPerfProduce } from "./perf-produce.js";
import { registerProduce } from "./produce.js";
import { registerQuorumDescribe } from "./quorum-describe.js";
import { registerServerStart } from "./server-start.js";
import { registerStorageFormat } from "./storage-format.js";
import { registerStorageRandomUuid } from "./storage-random-uuid.js";
import { registerTopicAlter } from "./topic-alter.js";
import { registerTopicCreate } from "./topic-create.js";
import { registerTopicDelete } from "./topic-delete.js";
import { registerTopicDescribe } from "./topic-describe.js";
import { registerTopicElectLeaders } from "./topic-elect-leaders.js";
import { registerTopicList } from "./topic-list.js";

export function registerCommands(program: Command): void {
  registerServerStart(program);

  const storage = program.command("storage").description("format data directories (like kafka-storage.sh)");
  registerStorageFormat(storage);
  registerStorageRandomUuid(storage);

  const topic = program.command("topic").description("create, list, describe, alter and delete topics; elect preferred leaders");
  registerTopicCreate(topic);
  registerTopicList(topic);
  registerTopicDescribe(topic);
  registerTopicAlter(topic);
  registerTopicDelete(topic);
  registerTopicElectLeaders(topic);

  registerProduce(program);
  registerConsume(program);

  const group = program
    .command("group")
    .description("list, describe, reset the offsets of and delete consumer groups (like kafka-consumer-groups.sh)");
  registerGroupList(group);
  registerGroupDescribe(group);
  registerGroupResetOffsets(group);
  registerGroupDelete(group);

  const cluster = program.command("cluster").description("inspect the cluster");
  registerClusterDescribe(cluster);

  const quorum = program.command("quorum").description("inspect the metadata quorum (like kafka-metadata-quorum.sh)");
  registerQuorumDescribe(quorum);

  const log = program.command("log").description("inspect log segment files");
  registerLogDump(log);

  const perf = program.command("perf").description("producer and consumer benchmarks");
  registerPerfProduce(perf);
  registerPerfConsume(perf);
}

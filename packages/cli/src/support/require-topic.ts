// Looks a topic up before producing or consuming, so a missing topic fails at once with the
// fix instead of after the producer's maxBlockMs.

import { Admin, type TopicDescription } from "@castle/client";
import { ProtocolError } from "@castle/protocol";
import { CliError } from "./cli-error.js";

export async function requireTopic(bootstrap: string, topic: string): Promise<TopicDescription> {
  const admin = new Admin({ bootstrap });
  try {
    const [description] = await admin.describeTopics([topic]);
    if (description === undefined) throw new CliError(`topic '${topic}' does not exist`, `create it with \`castle topic create ${topic}\``);
    return description;
  } catch (error) {
    if (error instanceof ProtocolError && error.code === "UNKNOWN_TOPIC_OR_PARTITION") {
      throw new CliError(`topic '${topic}' does not exist`, `create it with \`castle topic create ${topic}\``);
    }
    throw error;
  } finally {
    admin.close();
  }
}

export function requirePartition(description: TopicDescription, partition: number): void {
  if (partition >= description.partitions.length) {
    throw new CliError(
      `partition ${partition} of topic '${description.name}' does not exist`,
      `it has partitions 0..${description.partitions.length - 1}`,
    );
  }
}

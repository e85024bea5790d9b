// Snapshot format of a MetadataImage, so a node loads the cluster's current state instead of
// replaying its history (as KRaft's snapshots do, the state is written as the records that
// rebuild it: one RegisterBroker per broker, Topic + Partition per topic, Config per key, one
// ProducerIds). UTF-8 JSON:
//
//   {"format":"castle-metadata-snapshot","v":1,"offset":N,"brokerEpochLast":E,"records":[...]}
//
// with records in a fixed order (brokers by id, topics by name, configs by resource and key),
// so equal images give equal bytes. Loading validates every record like the log decoder does
// and applies them all in one delta; its cost follows the size of the state, not the history.

import { invariant } from "@castle/common";
import type { MetadataRecord } from "../records/metadata-record.js";
import { isPlainObject, MetadataDecodeError, parseJson, recordFromJson, recordToJson } from "../records/record-codec.js";
import { MetadataDelta } from "./metadata-delta.js";
import { MetadataImage } from "./metadata-image.js";

export const SNAPSHOT_FORMAT = "castle-metadata-snapshot";
export const SNAPSHOT_VERSION = 1;

const encoder = new TextEncoder();

/** The records that rebuild `image` from empty, in snapshot order. */
export function imageRecords(image: MetadataImage): MetadataRecord[] {
  const records: MetadataRecord[] = [];
  for (const broker of image.brokers()) {
    records.push({
      type: "RegisterBroker",
      brokerId: broker.brokerId,
      incarnationId: broker.incarnationId,
      brokerEpoch: broker.brokerEpoch,
      endpoints: broker.endpoints,
      rack: broker.rack,
      fenced: broker.fenced,
    });
  }
  for (const topic of image.topics()) {
    records.push({ type: "Topic", name: topic.name, topicId: topic.topicId });
    for (const p of topic.partitions) {
      records.push({
        type: "Partition",
        topicId: p.topicId,
        partition: p.partition,
        replicas: p.replicas,
        isr: p.isr,
        leader: p.leader,
        leaderEpoch: p.leaderEpoch,
        partitionEpoch: p.partitionEpoch,
      });
    }
  }
  for (const resourceType of ["topic", "broker"] as const) {
    for (const resourceName of image.configResources(resourceType)) {
      const configs = image.configs(resourceType, resourceName);
      for (const name of Object.keys(configs).sort()) {
        records.push({ type: "Config", resourceType, resourceName, name, value: configs[name] ?? null });
      }
    }
  }
  const producerIds = image.producerIds;
  if (producerIds.nextProducerId > 0) {
    records.push({
      type: "ProducerIds",
      brokerId: producerIds.brokerId,
      brokerEpoch: producerIds.brokerEpoch,
      nextProducerId: producerIds.nextProducerId,
    });
  }
  return records;
}

export function encodeImageSnapshot(image: MetadataImage): Uint8Array {
  invariant(image.offset >= 0, "cannot snapshot the empty image (nothing applied yet)");
  const body = {
    format: SNAPSHOT_FORMAT,
    v: SNAPSHOT_VERSION,
    offset: image.offset,
    brokerEpochLast: image.brokerEpochLast,
    records: imageRecords(image).map(recordToJson),
  };
  return encoder.encode(JSON.stringify(body));
}

export function decodeImageSnapshot(bytes: Uint8Array): MetadataImage {
  const parsed = parseJson(bytes, "metadata snapshot");
  if (!isPlainObject(parsed) || parsed["format"] !== SNAPSHOT_FORMAT) {
    throw new MetadataDecodeError(`not a metadata snapshot (expected "format":"${SNAPSHOT_FORMAT}")`);
  }
  if (parsed["v"] !== SNAPSHOT_VERSION) {
    throw new MetadataDecodeError(
      `metadata snapshot version ${JSON.stringify(parsed["v"])} is not supported; this node reads version ${SNAPSHOT_VERSION}`,
    );
  }
  const { offset, brokerEpochLast, records } = parsed;
  if (!Number.isSafeInteger(offset) || (offset as number) < 0) throw new MetadataDecodeError("metadata snapshot has no valid offset");
  if (!Number.isSafeInteger(brokerEpochLast) || (brokerEpochLast as number) < 0) {
    throw new MetadataDecodeError("metadata snapshot has no valid brokerEpochLast");
  }
  if (!Array.isArray(records)) throw new MetadataDecodeError("metadata snapshot has no records array");
  const delta = new MetadataDelta(MetadataImage.empty());
  records.forEach((item: unknown, index) => {
    delta.replay(recordFromJson(item, `metadata snapshot record ${index}`));
  });
  delta.raiseBrokerEpochLast(brokerEpochLast as number);
  return delta.build(offset as number);
}

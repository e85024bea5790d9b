// Golden bytes for every record type (test/fixtures/records-v1.jsonl: one encoded record per
// line), and refusal of anything this node does not understand. A change to the encoding must
// show up here as a fixture change.

import { readFileSync } from "node:fs";
import {
  decodeMetadataBatch,
  decodeMetadataRecord,
  encodeMetadataBatch,
  encodeMetadataRecord,
  MetadataDecodeError,
  type MetadataRecord,
  RECORD_SCHEMAS,
} from "@castle/metadata";
import { expect } from "chai";

const sampleRecords: readonly MetadataRecord[] = [
  {
    type: "RegisterBroker",
    brokerId: 1,
    incarnationId: "vCr5bJm0Sg6kq6ZdPzjT1w",
    brokerEpoch: 7,
    endpoints: [{ name: "CLIENT", host: "castle-1.local", port: 9092 }],
    rack: "rack-a",
    fenced: true,
  },
  { type: "UnregisterBroker", brokerId: 2, brokerEpoch: 3 },
  { type: "FenceBroker", brokerId: 1, brokerEpoch: 7 },
  { type: "UnfenceBroker", brokerId: 1, brokerEpoch: 7 },
  { type: "Topic", name: "orders", topicId: "AAAAAAAAAAAAAAAAAAAAAA" },
  {
    type: "Partition",
    topicId: "AAAAAAAAAAAAAAAAAAAAAA",
    partition: 0,
    replicas: [1, 2, 3],
    isr: [1, 2],
    leader: 1,
    leaderEpoch: 0,
    partitionEpoch: 0,
  },
  { type: "PartitionChange", topicId: "AAAAAAAAAAAAAAAAAAAAAA", partition: 0, leader: -1 },
  { type: "PartitionChange", topicId: "AAAAAAAAAAAAAAAAAAAAAA", partition: 0, leader: 2, isr: [2, 3], replicas: [2, 3, 4] },
  { type: "Config", resourceType: "topic", resourceName: "orders", name: "retention.ms", value: "3600000" },
  { type: "Config", resourceType: "broker", resourceName: "1", name: "log.retention.ms", value: null },
  { type: "RemoveTopic", topicId: "AAAAAAAAAAAAAAAAAAAAAA" },
  { type: "ProducerIds", brokerId: 1, brokerEpoch: 7, nextProducerId: 2000 },
];

const fixture = new URL("./fixtures/records-v1.jsonl", import.meta.url);
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

describe("metadata record codec", () => {
  const golden = readFileSync(fixture, "utf8").trimEnd().split("\n");

  it("has a sample of every record type", () => {
    expect(new Set(sampleRecords.map((r) => r.type))).to.have.keys(Object.keys(RECORD_SCHEMAS));
    expect(golden.length, "one fixture line per sample").to.equal(sampleRecords.length);
  });

  sampleRecords.forEach((record, i) => {
    it(`encodes ${record.type} #${i} to its golden bytes and back`, () => {
      expect(text(encodeMetadataRecord(record)), `record ${i}`).to.equal(golden[i]);
      expect(decodeMetadataRecord(bytes(golden[i] as string)), `record ${i}`).to.deep.equal(record);
    });
  });

  it("encodes endpoint fields in schema order whatever the caller's key order", () => {
    const record = sampleRecords[0] as MetadataRecord & { type: "RegisterBroker" };
    const reordered = { ...record, endpoints: [{ port: 9092, host: "castle-1.local", name: "CLIENT" }] };
    expect(text(encodeMetadataRecord(reordered))).to.equal(golden[0]);
  });

  it("round-trips a batch (one Raft entry) in order", () => {
    const batch = encodeMetadataBatch(sampleRecords);
    expect(text(batch)).to.equal(`[${golden.join(",")}]`);
    expect(decodeMetadataBatch(batch)).to.deep.equal(sampleRecords);
  });

  const junk: Array<[string, string, RegExp]> = [
    ["not JSON", "{oops", /not valid JSON/],
    ["not an object", "[1,2]", /not a JSON object/],
    ["unknown type", '{"v":1,"type":"AccessControlEntry"}', /unknown type "AccessControlEntry"/],
    ["missing type", '{"v":1}', /unknown type undefined/],
    ["newer version", '{"v":2,"type":"Topic","name":"a","topicId":"b"}', /Topic has version 2; this node reads version 1/],
    ["missing version", '{"type":"Topic","name":"a","topicId":"b"}', /version undefined/],
    ["missing field", '{"v":1,"type":"Topic","name":"a"}', /missing field "topicId"/],
    ["extra field", '{"v":1,"type":"Topic","name":"a","topicId":"b","extra":1}', /unknown field "extra"/],
    ["wrong field type", '{"v":1,"type":"Topic","name":7,"topicId":"b"}', /field "name" is not a string/],
    ["negative broker id", '{"v":1,"type":"FenceBroker","brokerId":-1,"brokerEpoch":1}', /"brokerId" is not a non-negative integer/],
    ["fractional epoch", '{"v":1,"type":"FenceBroker","brokerId":1,"brokerEpoch":1.5}', /"brokerEpoch" is not a non-negative integer/],
    ["leader below -1", '{"v":1,"type":"PartitionChange","topicId":"t","partition":0,"leader":-2}', /"leader" is not a broker id or -1/],
    ["bad replica list", '{"v":1,"type":"PartitionChange","topicId":"t","partition":0,"isr":[1,"2"]}', /"isr" is not a list of broker ids/],
    [
      "bad resource type",
      '{"v":1,"type":"Config","resourceType":"group","resourceName":"g","name":"k","value":null}',
      /"resourceType" is not "topic" or "broker"/,
    ],
    [
      "bad endpoint",
      '{"v":1,"type":"RegisterBroker","brokerId":1,"incarnationId":"i","brokerEpoch":1,"endpoints":[{"name":"C","host":"h","port":70000}],"rack":null,"fenced":true}',
      /"endpoints" is not a list/,
    ],
  ];
  for (const [what, input, message] of junk) {
    it(`refuses ${what} with a clear error`, () => {
      expect(() => decodeMetadataRecord(bytes(input)), what)
        .to.throw(MetadataDecodeError)
        .with.property("message")
        .that.matches(message);
    });
  }

  it("refuses invalid UTF-8 and a batch that is not an array, naming the bad record's position", () => {
    expect(() => decodeMetadataRecord(new Uint8Array([0xff, 0xfe]))).to.throw(MetadataDecodeError, /not valid UTF-8/);
    expect(() => decodeMetadataBatch(bytes('{"v":1}'))).to.throw(MetadataDecodeError, /not a JSON array/);
    expect(() => decodeMetadataBatch(bytes(`[${golden[0]},{"v":1,"type":"Nope"}]`))).to.throw(MetadataDecodeError, /batch record 1/);
  });
});

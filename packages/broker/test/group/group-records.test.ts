// The __consumer_offsets record format: golden bytes pin it (a change here is a change to every
// cluster's stored data), values round-trip, tombstones stay null, and malformed bytes are
// refused with a GroupRecordDecodeError naming the problem. Also Kafka's group -> partition rule.

import { expect } from "chai";
import { javaStringHashCode, offsetsPartitionFor } from "../../src/group/group-partitioner.js";
import {
  decodeGroupMetadataValue,
  decodeGroupRecord,
  decodeGroupRecordKey,
  decodeOffsetCommitValue,
  encodeGroupMetadataValue,
  encodeGroupRecordKey,
  encodeOffsetCommitValue,
  type GroupMetadataValue,
  GroupRecordDecodeError,
  GroupRecordKeyType,
  groupMetadataKey,
  groupMetadataRecord,
  type OffsetCommitValue,
  offsetCommitKey,
  offsetCommitRecord,
} from "../../src/group/group-records.js";

const offsetValue: OffsetCommitValue = { offset: 42, leaderEpoch: 3, metadata: "m", commitTimestampMs: 1_700_000_000_000 };
const groupValue: GroupMetadataValue = {
  protocolType: "consumer",
  generationId: 5,
  protocolName: "range",
  leader: "a",
  stateTimestampMs: 1_700_000_000_000,
  members: [
    {
      memberId: "a",
      groupInstanceId: "i",
      clientId: "c",
      clientHost: "/h",
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 30_000,
      subscription: Buffer.from([1, 2]),
      assignment: Buffer.from([3]),
    },
  ],
};

// version 1 | type 1 | "g1" | "t" | partition 2
const OFFSET_KEY_HEX = "01" + "01" + "00000002" + "6731" + "00000001" + "74" + "00000002";
// version 1 | offset 42 | epoch 3 | "m" | 1_700_000_000_000 ms
const OFFSET_VALUE_HEX = "01" + "000000000000002a" + "00000003" + "00000001" + "6d" + "0000018bcfe56800";
// version 1 | type 2 | "g1"
const GROUP_KEY_HEX = "01" + "02" + "00000002" + "6731";
const GROUP_VALUE_HEX =
  "01" +
  ["00000008", "636f6e73756d6572"].join("") + // "consumer"
  "00000005" + // generation 5
  ["00000005", "72616e6765"].join("") + // "range"
  ["00000001", "61"].join("") + // leader "a"
  "0000018bcfe56800" + // state timestamp
  "00000001" + // one member
  ["00000001", "61", "00000001", "69", "00000001", "63", "00000002", "2f68"].join("") + // "a", "i", "c", "/h"
  ["00002710", "00007530"].join("") + // 10000 ms, 30000 ms
  ["00000002", "0102", "00000001", "03"].join(""); // subscription, assignment

describe("group records (__consumer_offsets format v1)", () => {
  it("encodes to the golden bytes", () => {
    expect(encodeGroupRecordKey(offsetCommitKey("g1", "t", 2)).toString("hex")).to.equal(OFFSET_KEY_HEX);
    expect(encodeOffsetCommitValue(offsetValue).toString("hex")).to.equal(OFFSET_VALUE_HEX);
    expect(encodeGroupRecordKey(groupMetadataKey("g1")).toString("hex")).to.equal(GROUP_KEY_HEX);
    expect(encodeGroupMetadataValue(groupValue).toString("hex")).to.equal(GROUP_VALUE_HEX);
  });

  it("decodes the golden bytes back", () => {
    expect(decodeGroupRecordKey(Buffer.from(OFFSET_KEY_HEX, "hex"))).to.deep.equal(offsetCommitKey("g1", "t", 2));
    expect(decodeOffsetCommitValue(Buffer.from(OFFSET_VALUE_HEX, "hex"))).to.deep.equal(offsetValue);
    expect(decodeGroupRecordKey(Buffer.from(GROUP_KEY_HEX, "hex"))).to.deep.equal(groupMetadataKey("g1"));
    expect(decodeGroupMetadataValue(Buffer.from(GROUP_VALUE_HEX, "hex"))).to.deep.equal(groupValue);
  });

  it("round-trips whole records, tombstones included, with non-ASCII names", () => {
    const key = offsetCommitKey("grüppe-☃", "tópic", 7);
    const decoded = decodeGroupRecord(offsetCommitRecord(key, { ...offsetValue, metadata: "ß".repeat(100) }));
    expect(decoded).to.deep.equal({ type: GroupRecordKeyType.OffsetCommit, key, value: { ...offsetValue, metadata: "ß".repeat(100) } });
    expect(decodeGroupRecord(offsetCommitRecord(key, null))).to.deep.equal({ type: GroupRecordKeyType.OffsetCommit, key, value: null });
    const empty: GroupMetadataValue = { ...groupValue, protocolName: "", leader: "", members: [] };
    expect(decodeGroupRecord(groupMetadataRecord(groupMetadataKey("g"), empty)).value).to.deep.equal(empty);
    expect(decodeGroupRecord(groupMetadataRecord(groupMetadataKey("g"), null)).value).to.equal(null);
  });

  const malformed: { name: string; decode: () => unknown; problem: RegExp }[] = [
    { name: "an empty key", decode: () => decodeGroupRecordKey(Buffer.alloc(0)), problem: /ends inside format version/ },
    {
      name: "a newer key version",
      decode: () => decodeGroupRecordKey(Buffer.from(`02${OFFSET_KEY_HEX.slice(2)}`, "hex")),
      problem: /format version 2/,
    },
    {
      name: "an unknown key type",
      decode: () => decodeGroupRecordKey(Buffer.from(`0109${OFFSET_KEY_HEX.slice(4)}`, "hex")),
      problem: /type 9/,
    },
    {
      name: "a truncated key",
      decode: () => decodeGroupRecordKey(Buffer.from(OFFSET_KEY_HEX.slice(0, -2), "hex")),
      problem: /ends inside partition/,
    },
    {
      name: "trailing bytes",
      decode: () => decodeGroupRecordKey(Buffer.from(`${GROUP_KEY_HEX}00`, "hex")),
      problem: /1 bytes after its last field/,
    },
    {
      name: "a string length beyond the record",
      decode: () => decodeGroupRecordKey(Buffer.from("0102ffffffff6731", "hex")),
      problem: /ends inside group id/,
    },
    { name: "invalid UTF-8", decode: () => decodeGroupRecordKey(Buffer.from("010200000002ffff", "hex")), problem: /not valid UTF-8/ },
    {
      name: "a negative partition",
      decode: () => decodeGroupRecordKey(encodeGroupRecordKey(offsetCommitKey("g", "t", -1))),
      problem: /partition -1/,
    },
    {
      name: "a negative committed offset",
      decode: () => decodeOffsetCommitValue(encodeOffsetCommitValue({ ...offsetValue, offset: -5 })),
      problem: /committed offset -5/,
    },
    {
      name: "an offset beyond 2^53",
      decode: () => decodeOffsetCommitValue(Buffer.from(`01${"7fffffffffffffff"}${OFFSET_VALUE_HEX.slice(18)}`, "hex")),
      problem: /beyond 2\^53/,
    },
    {
      name: "a member count with no members behind it",
      decode: () =>
        decodeGroupMetadataValue(Buffer.from(GROUP_VALUE_HEX.replace("0000018bcfe5680000000001", "0000018bcfe5680000ffffff"), "hex")),
      problem: /trailing|ends inside member/,
    },
    {
      name: "a leader that is not a member",
      decode: () => decodeGroupMetadataValue(encodeGroupMetadataValue({ ...groupValue, leader: "zz" })),
      problem: /leader "zz"/,
    },
  ];
  for (const { name, decode, problem } of malformed) {
    it(`refuses ${name} with a clear error`, () => {
      expect(decode, name).to.throw(GroupRecordDecodeError, problem);
    });
  }
});

describe("group -> __consumer_offsets partition (Kafka's rule)", () => {
  // An independent reference: the hash in BigInt arithmetic, wrapped to a signed 32-bit int at the end.
  const referenceHash = (text: string): number => {
    let h = 0n;
    for (let i = 0; i < text.length; i++) h = (h * 31n + BigInt(text.charCodeAt(i))) % 2n ** 32n;
    return Number(BigInt.asIntN(32, h));
  };

  it("is Java's String.hashCode over UTF-16 code units", () => {
    const cases: [string, number][] = [
      ["", 0],
      ["a", 97],
      ["Aa", 2112],
      ["BB", 2112],
      ["hello world", 1794106052],
      ["polygenelubricants", -2147483648],
    ];
    for (const [text, hash] of cases) expect(javaStringHashCode(text), text).to.equal(hash);
    for (const text of ["console-consumer-12345", "my-group", "gruppe-☃-😀", "x".repeat(1000)]) {
      expect(javaStringHashCode(text), text).to.equal(referenceHash(text));
    }
  });

  it("takes Utils.abs of the hash (Integer.MIN_VALUE -> 0) modulo the partition count", () => {
    expect(offsetsPartitionFor("polygenelubricants", 50), "MIN_VALUE").to.equal(0);
    let negative = "";
    for (let i = 0; javaStringHashCode(negative) >= 0; i++) negative = `group-${i}`;
    const hash = javaStringHashCode(negative);
    expect(offsetsPartitionFor(negative, 50), negative).to.equal(Math.abs(hash) % 50);
    expect(offsetsPartitionFor("my-group", 50)).to.equal(Math.abs(javaStringHashCode("my-group")) % 50);
    for (let i = 0; i < 200; i++) {
      const p = offsetsPartitionFor(`g-${i}`, 7);
      expect(p >= 0 && p < 7, `g-${i} -> ${p}`).to.equal(true);
    }
  });
});

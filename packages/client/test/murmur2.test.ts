import { expect } from "chai";
import { murmur2, partitionForKey, toPositive } from "../src/producer/murmur2.js";

describe("murmur2", () => {
  // Kafka's UtilsTest.testMurmur2.
  const vectors: [string, number][] = [
    ["21", -973932308],
    ["foobar", -790332482],
    ["a-little-bit-long-string", -985981536],
    ["a-little-bit-longer-string", -1486304829],
    ["lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971],
    ["abc", 479470107],
  ];
  for (const [input, expected] of vectors) {
    it(`hashes "${input}" like Kafka's Utils.murmur2`, () => {
      expect(murmur2(Buffer.from(input, "utf8")), input).to.equal(expected);
    });
  }

  it("hashes the empty key", () => {
    expect(Number.isInteger(murmur2(Buffer.alloc(0)))).to.equal(true);
  });

  it("toPositive clears the sign bit instead of negating", () => {
    expect(toPositive(-1)).to.equal(0x7fffffff);
    expect(toPositive(-2147483648)).to.equal(0);
    expect(toPositive(5)).to.equal(5);
  });

  it("picks partitions as (murmur2 & 0x7fffffff) % n", () => {
    for (const [input, hash] of vectors) {
      for (const n of [1, 3, 7, 12]) {
        expect(partitionForKey(Buffer.from(input), n), `${input} over ${n}`).to.equal((hash & 0x7fffffff) % n);
      }
    }
  });
});

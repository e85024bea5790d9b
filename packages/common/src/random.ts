// Randomness as a port, so a seed replays a run. SeededRandom is xorshift128+ folded to 53 bits:
// not cryptographic, only reproducible.

export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, bound). */
  int(bound: number): number;
}

export class SeededRandom implements Random {
  private s0: bigint;
  private s1: bigint;
  constructor(seed: number) {
    const mask = (1n << 64n) - 1n;
    let x = BigInt(seed >>> 0) ^ 0x9e3779b97f4a7c15n;
    const splitmix = (): bigint => {
      x = (x + 0x9e3779b97f4a7c15n) & mask;
      let z = x;
      z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & mask;
      z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & mask;
      return z ^ (z >> 31n);
    };
    this.s0 = splitmix();
    this.s1 = splitmix();
  }
  next(): number {
    const mask = (1n << 64n) - 1n;
    let s1 = this.s0;
    const s0 = this.s1;
    this.s0 = s0;
    s1 = (s1 ^ (s1 << 23n)) & mask;
    this.s1 = s1 ^ s0 ^ (s1 >> 17n) ^ (s0 >> 26n);
    const sum = (this.s1 + s0) & mask;
    return Number(sum >> 11n) / 2 ** 53;
  }
  int(bound: number): number {
    return Math.floor(this.next() * bound);
  }
}

export const systemRandom: Random = {
  next: () => Math.random(),
  int: (bound) => Math.floor(Math.random() * bound),
};

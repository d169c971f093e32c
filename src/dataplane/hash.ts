/**
 * Sticky bucketing: MurmurHash3 (x86, 32-bit, seed 0) of `group:key`, as Unleash's gradual
 * rollout hashes `groupId:userId`, mapped into 10,000 buckets so that a user Unleash enables at
 * N % is exactly a user Aviary sends to the canary at weight N, and so that the bucket never
 * changes while the weight grows (monotone stickiness).
 *
 * Like the JavaScript murmur3 packages Unleash's Node SDK uses, each UTF-16 code unit
 * contributes its low byte; ids in ASCII hash the same as their UTF-8 bytes.
 *
 * @module
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** Number of buckets; a weight of W % covers buckets below W × 100. */
export const BUCKETS = 10_000;

function mixK1(k1: number): number {
  k1 = Math.imul(k1, C1);
  k1 = (k1 << 15) | (k1 >>> 17);
  return Math.imul(k1, C2);
}

function mixH1(h1: number, k1: number): number {
  h1 ^= mixK1(k1);
  h1 = (h1 << 13) | (h1 >>> 19);
  return (Math.imul(h1, 5) + 0xe6546b64) | 0;
}

function finish(h1: number, length: number): number {
  h1 ^= length;
  h1 ^= h1 >>> 16;
  h1 = Math.imul(h1, 0x85ebca6b);
  h1 ^= h1 >>> 13;
  h1 = Math.imul(h1, 0xc2b2ae35);
  h1 ^= h1 >>> 16;
  return h1 >>> 0;
}

/** MurmurHash3 x86_32 of a string (low byte of each code unit). */
export function murmur3(text: string, seed = 0): number {
  return new PrefixedHasher("", seed).hash(text);
}

/**
 * Hashes `prefix + key` without building the concatenated string per call: the prefix's whole
 * 4-byte blocks are mixed once, up front, and its 0-3 leftover bytes are carried into the key.
 */
export class PrefixedHasher {
  readonly #h1: number;
  readonly #carry: number;
  readonly #carryBytes: number;
  readonly #prefixLength: number;

  constructor(prefix: string, seed = 0) {
    let h1 = seed | 0;
    const whole = prefix.length & ~3;
    for (let i = 0; i < whole; i += 4) {
      h1 = mixH1(
        h1,
        (prefix.charCodeAt(i) & 0xff) |
          ((prefix.charCodeAt(i + 1) & 0xff) << 8) |
          ((prefix.charCodeAt(i + 2) & 0xff) << 16) |
          ((prefix.charCodeAt(i + 3) & 0xff) << 24),
      );
    }
    let carry = 0;
    for (let i = whole; i < prefix.length; i++)
      carry |= (prefix.charCodeAt(i) & 0xff) << ((i - whole) * 8);
    this.#h1 = h1;
    this.#carry = carry;
    this.#carryBytes = prefix.length - whole;
    this.#prefixLength = prefix.length;
  }

  /** The 32-bit hash of prefix + key. */
  hash(key: string): number {
    let h1 = this.#h1;
    let block = this.#carry;
    let filled = this.#carryBytes;
    const n = key.length;
    for (let i = 0; i < n; i++) {
      block |= (key.charCodeAt(i) & 0xff) << (filled * 8);
      if (++filled === 4) {
        h1 = mixH1(h1, block);
        block = 0;
        filled = 0;
      }
    }
    if (filled > 0) h1 ^= mixK1(block);
    return finish(h1, this.#prefixLength + n);
  }

  /**
   * The key's bucket in [0, 10000). The hundreds come from `hash % 100` (Unleash's percentage,
   * minus one) and the units from the next two decimal digits, so integer weights agree with
   * Unleash and fractional weights (0.25 %) still get their own slice.
   */
  bucket(key: string): number {
    const h = this.hash(key);
    return (h % 100) * 100 + (Math.floor(h / 100) % 100);
  }
}

/** A service's bucketer: `group:` is its prefix, as Unleash prefixes `groupId:`. */
export function bucketerFor(group: string): PrefixedHasher {
  return new PrefixedHasher(`${group}:`);
}

/**
 * The seed Unleash hashes variant choice with (`unleash-client-node` `variant.ts`), so that a
 * user's variant is independent of whether the same user is inside a gradual rollout (seed 0).
 */
export const VARIANT_SEED = 86_028_157;

/**
 * A weighted-variant bucketer: `group:` hashed with {@link VARIANT_SEED}. Its
 * {@link weightedPosition} is Unleash's `normalizedVariantValue`, so a split with the same
 * weights, group and key picks the variant Unleash picks.
 */
export function variantHasherFor(group: string): PrefixedHasher {
  return new PrefixedHasher(`${group}:`, VARIANT_SEED);
}

/** The key's position in [1, totalWeight]: the first variant whose cumulative weight reaches it wins. */
export function weightedPosition(hasher: PrefixedHasher, key: string, totalWeight: number): number {
  return (hasher.hash(key) % totalWeight) + 1;
}

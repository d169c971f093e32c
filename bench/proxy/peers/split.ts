/**
 * The sticky 90/10 split the Node peers do, as the research measured it: murmur3 (x86, 32-bit,
 * seed 0, low byte of each UTF-16 unit, like murmurhash-js) of the `x-user-id` header, taken
 * `% 10000`; buckets below the canary weight (basis points) go to the canary. Requests without
 * the header are split at random.
 *
 * @module
 */

import { ChildArgs } from "../child-args.js";

export function murmur3(key: string, seed = 0): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  const tail = key.length & 3;
  const bytes = key.length - tail;
  let h = seed | 0;
  let i = 0;
  let k: number;
  while (i < bytes) {
    k =
      (key.charCodeAt(i) & 0xff) |
      ((key.charCodeAt(i + 1) & 0xff) << 8) |
      ((key.charCodeAt(i + 2) & 0xff) << 16) |
      ((key.charCodeAt(i + 3) & 0xff) << 24);
    i += 4;
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  k = 0;
  if (tail === 3) k ^= (key.charCodeAt(i + 2) & 0xff) << 16;
  if (tail >= 2) k ^= (key.charCodeAt(i + 1) & 0xff) << 8;
  if (tail >= 1) {
    k ^= key.charCodeAt(i) & 0xff;
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
  }
  h ^= key.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export interface PeerConfig {
  port: number;
  stable: string;
  canary: string;
  /** Canary share in basis points (1000 = 10 %). */
  canaryBp: number;
}

/** Reads `--port N --stable URL --canary URL --canary-bp N`. */
export function peerConfig(): PeerConfig {
  const args = new ChildArgs();
  return {
    port: args.number("port"),
    stable: args.text("stable"),
    canary: args.text("canary"),
    canaryBp: args.number("canary-bp"),
  };
}

/** Returns the chooser: the origin for a request's `x-user-id` header value. */
export function splitter(cfg: PeerConfig): (userId: string | string[] | undefined) => string {
  return (userId) => {
    const bucket =
      typeof userId === "string"
        ? murmur3(`bench:${userId}`) % 10_000
        : Math.floor(Math.random() * 10_000);
    return bucket < cfg.canaryBp ? cfg.canary : cfg.stable;
  };
}

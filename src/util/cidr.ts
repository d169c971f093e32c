/**
 * Address ranges written as CIDRs (`10.0.0.0/8`, `2001:db8::/32`) or single addresses, and a
 * matcher over a list of them. Built on Node's `net.BlockList`, which also matches an IPv4
 * client that a dual-stack socket reports as `::ffff:a.b.c.d` against an IPv4 range.
 *
 * @module
 */

import { BlockList, isIP } from "node:net";

export interface Cidr {
  address: string;
  prefix: number;
  family: "ipv4" | "ipv6";
}

/** Parses `address[/prefix]`; a bare address is a range of one. Undefined when invalid. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf("/");
  const address = slash === -1 ? text : text.slice(0, slash);
  const version = isIP(address);
  if (version === 0) return undefined;
  const max = version === 4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const digits = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(digits)) return undefined;
    prefix = Number(digits);
    if (prefix > max) return undefined;
  }
  return { address, prefix, family: version === 4 ? "ipv4" : "ipv6" };
}

/**
 * A predicate telling whether an address lies in one of `ranges`, or undefined for an empty
 * list (so callers skip the check entirely). Ranges must have passed {@link parseCidr}.
 */
export function addressMatcher(
  ranges: readonly string[],
): ((address: string) => boolean) | undefined {
  if (ranges.length === 0) return undefined;
  const list = new BlockList();
  for (const text of ranges) {
    const cidr = parseCidr(text);
    if (cidr === undefined) throw new Error(`not an address range: ${text}`);
    list.addSubnet(cidr.address, cidr.prefix, cidr.family);
  }
  return (address) => {
    const version = isIP(address);
    return version !== 0 && list.check(address, version === 4 ? "ipv4" : "ipv6");
  };
}

/**
 * What the routing decision may look at, captured in the one pass the proxy makes over the
 * raw request headers anyway: only the headers some rule asked for, by slot number.
 *
 * @module
 */

/** The parts of a request that match rules and stickiness read. */
export interface RequestView {
  /** Values of the headers named in {@link HeaderSlots}, by slot; repeated headers joined with ", " (cookies with "; "). */
  readonly headers: Array<string | undefined>;
  /** The request target as sent (`/a/b?x=1`). */
  readonly url: string;
  /** The client's address, for clientAddress stickiness. */
  readonly clientAddress: string | undefined;
}

/** Assigns each header name some rule reads a slot, so a request captures only those. */
export class HeaderSlots {
  readonly #slots = new Map<string, number>();

  /** The slot of a (lower-case) header name, adding it when new. */
  slot(name: string): number {
    let slot = this.#slots.get(name);
    if (slot === undefined) {
      slot = this.#slots.size;
      this.#slots.set(name, slot);
    }
    return slot;
  }

  /** The slot of a lower-case header name, or undefined when no rule reads it. */
  find(name: string): number | undefined {
    return this.#slots.get(name);
  }

  get size(): number {
    return this.#slots.size;
  }
}

/** The value of cookie `name` in a Cookie header, without parsing the others. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  let from = 0;
  while (from < header.length) {
    let start = from;
    while (header.charCodeAt(start) === 32) start++;
    let end = header.indexOf(";", start);
    if (end === -1) end = header.length;
    if (header.startsWith(name, start) && header.charCodeAt(start + name.length) === 61 /* = */) {
      let value = header.slice(start + name.length + 1, end).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"'))
        value = value.slice(1, -1);
      return value;
    }
    from = end + 1;
  }
  return undefined;
}

/** The value of query parameter `name` in a request target, decoded; undefined when absent. */
export function readQuery(url: string, name: string): string | undefined {
  const q = url.indexOf("?");
  if (q === -1) return undefined;
  return new URLSearchParams(url.slice(q + 1)).get(name) ?? undefined;
}

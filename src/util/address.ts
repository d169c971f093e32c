/**
 * `host:port` listen addresses, including bracketed IPv6 (`[::1]:9900`).
 *
 * @module
 */

export interface ListenAddress {
  host: string;
  port: number;
}

/** Parses `HOST:PORT`; returns undefined for anything else. Port 0 means "any free port". */
export function parseListenAddress(text: string): ListenAddress | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text);
  if (m === null) return undefined;
  const port = Number(m[3]);
  if (port > 65_535) return undefined;
  return { host: (m[1] ?? m[2]) as string, port };
}

/** The inverse of {@link parseListenAddress}, used in log lines and URLs. */
export function formatListenAddress({ host, port }: ListenAddress): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

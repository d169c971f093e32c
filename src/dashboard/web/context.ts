/**
 * What every page of the signed-in dashboard shares: the API client, the server clock, who is
 * signed in, and the ways to announce something (the live region) or to drop a refused token.
 *
 * @module
 */

import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { ServerClock } from "../../util/server-clock.js";
import type { ApiClient, WhoAmI } from "./api.js";
import type { FeedDeps } from "./feeds.js";
import { EventStream, type StreamStatus } from "./stream.js";

export interface Shell {
  api: ApiClient;
  clock: ServerClock;
  who: WhoAmI;
  token(): string | null;
  /** Says something in the page's polite live region. */
  announce(text: string): void;
  /** The token was refused: back to the sign-in form with this message. */
  signedOut(detail: string): void;
  /** The current page's stream state, for the header's indicator. */
  setStreamStatus(s: StreamStatus): void;
}

export const ShellContext = createContext<Shell | null>(null);

export function useShell(): Shell {
  const shell = useContext(ShellContext);
  if (shell === null) throw new Error("useShell outside the signed-in shell");
  return shell;
}

const browserTimers = {
  setTimeout: (fn: () => void, ms: number): unknown => setTimeout(fn, ms),
  clearTimeout: (h: unknown) => clearTimeout(h as number),
};

/** The feeds' dependencies, wired to the browser. */
export function feedDeps(shell: Shell, onLive?: (text: string) => void): FeedDeps {
  return {
    api: shell.api,
    token: shell.token,
    timers: browserTimers,
    openStream: (opts) => new EventStream(opts),
    onUnauthorized: (detail) => shell.signedOut(detail),
    ...(onLive ? { onLiveEvent: (e) => onLive(`${e.service}: ${e.reason || e.type}`) } : {}),
  };
}

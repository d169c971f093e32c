/**
 * The dashboard's shell: who is signed in (checked with `whoami` on load), the header with the
 * live-stream indicator and sign-out, the page for the current URL fragment, and the polite
 * live region that announces new events and finished commands.
 *
 * @module
 */

import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { ServerClock } from "../../util/server-clock.js";
import { ApiClient, ApiError, type WhoAmI } from "./api.js";
import { type Shell, ShellContext } from "./context.js";
import { messageOf } from "./feeds.js";
import { useHashRoute } from "./hooks.js";
import { Overview } from "./overview.js";
import { ServicePage } from "./service-page.js";
import { tokenStore } from "./session.js";
import { SignIn } from "./sign-in.js";
import type { StreamStatus } from "./stream.js";
import { Icon } from "./ui.js";

/** How many announcements the live region keeps. */
const ANNOUNCED_KEPT = 5;

type Session =
  | { kind: "checking" }
  | { kind: "in"; who: WhoAmI }
  | { kind: "sign-in"; message: string | null; canSkip: boolean }
  | { kind: "unavailable"; detail: string };

function sessionStorageOrNull(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

function StreamIndicator({ status }: { status: StreamStatus }) {
  let text: string;
  let cls: string;
  switch (status.kind) {
    case "live":
      text = "Live";
      cls = "live";
      break;
    case "connecting":
      text = "Connecting…";
      cls = "wait";
      break;
    case "reconnecting":
      text = `Reconnecting in ${Math.ceil(status.inMs / 1000)}s`;
      cls = "wait";
      break;
    case "closed":
      return null;
    default:
      text = "Updates stopped";
      cls = "off";
  }
  return (
    <span
      class={`stream stream-${cls}`}
      title={status.kind === "reconnecting" ? status.why : undefined}
      data-testid="stream-status"
    >
      <Icon name={cls === "live" ? "live" : "offline"} />
      <span>{text}</span>
    </span>
  );
}

export function App() {
  const tokens = useMemo(() => tokenStore(sessionStorageOrNull()), []);
  const clock = useMemo(() => new ServerClock(), []);
  const api = useMemo(
    () => new ApiClient({ token: () => tokens.get(), onAnswer: (s) => clock.observe(s) }),
    [tokens, clock],
  );
  const [session, setSession] = useState<Session>({ kind: "checking" });
  const [stream, setStream] = useState<StreamStatus>({ kind: "connecting" });
  // The last few announcements, each its own line: a command's confirmation and the live event
  // it causes arrive in either order, and the second must not silence the first.
  const [said, setSaid] = useState<ReadonlyArray<{ n: number; text: string }>>([]);
  const route = useHashRoute();
  const main = useRef<HTMLElement>(null);

  /** Whether this server lets anyone read without a token. */
  const anonymousAllowed = useCallback(async () => {
    try {
      return (await api.whoami(null)).role === "anonymous";
    } catch {
      return false;
    }
  }, [api]);

  const toSignIn = useCallback(
    async (message: string | null) => {
      tokens.clear();
      setSession({ kind: "sign-in", message, canSkip: await anonymousAllowed() });
    },
    [tokens, anonymousAllowed],
  );

  const check = useCallback(async () => {
    setSession({ kind: "checking" });
    const stored = tokens.get();
    try {
      setSession({ kind: "in", who: await api.whoami(stored) });
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        await toSignIn(stored === null ? null : `Your token was refused: ${err.detail}`);
        return;
      }
      setSession({ kind: "unavailable", detail: messageOf(err) });
    }
  }, [api, tokens, toSignIn]);

  useEffect(() => {
    void check();
  }, [check]);

  const who = session.kind === "in" ? session.who : null;
  const shell = useMemo((): Shell | null => {
    if (who === null) return null;
    return {
      api,
      clock,
      who,
      token: () => tokens.get(),
      announce: (text) =>
        setSaid((s) => [...s.slice(-(ANNOUNCED_KEPT - 1)), { n: (s.at(-1)?.n ?? 0) + 1, text }]),
      signedOut: (detail) => void toSignIn(`Signed out: ${detail}`),
      setStreamStatus: setStream,
    };
  }, [api, clock, who, tokens, toSignIn]);

  useEffect(() => {
    const page = route.page === "service" ? `${route.name} · ` : "";
    document.title = `${page}Aviary`;
  }, [route]);

  if (session.kind === "checking") return <p class="loading muted">Loading Aviary…</p>;
  if (session.kind === "unavailable")
    return (
      <main id="main" class="signin">
        <div class="card signin-card">
          <h1>Aviary is not answering</h1>
          <p class="notice notice-error" role="alert">
            <Icon name="warning" />
            <span>{session.detail}</span>
          </p>
          <button type="button" class="btn btn-primary" onClick={() => void check()}>
            Try again
          </button>
        </div>
      </main>
    );
  if (session.kind === "sign-in")
    return (
      <SignIn
        api={api}
        message={session.message}
        canSkip={session.canSkip}
        onSkip={() => void check()}
        onSignedIn={(token, signedIn) => {
          tokens.set(token);
          setSession({ kind: "in", who: signedIn });
        }}
      />
    );
  if (shell === null) return null;

  const anonymous = shell.who.role === "anonymous";
  return (
    <ShellContext.Provider value={shell}>
      <button type="button" class="skip-link" onClick={() => main.current?.focus()}>
        Skip to content
      </button>
      <header class="topbar">
        <a class="brand" href="#/">
          <svg class="logo" viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">
            <path d="M3 16c4-1 6-4 8-8 1 3 3 5 7 6-3 1-5 3-6 6-2-2-5-3-9-4z" fill="currentColor" />
          </svg>
          <span>Aviary</span>
        </a>
        <nav aria-label="Main">
          <a href="#/" aria-current={route.page === "overview" ? "page" : undefined}>
            Services
          </a>
        </nav>
        <span class="spacer" />
        <StreamIndicator status={stream} />
        <span class="who" data-testid="who">
          <Icon name="user" />
          {anonymous ? (
            <span>Not signed in (read-only)</span>
          ) : (
            <span>
              {shell.who.name} <span class="muted">· {shell.who.role}</span>
            </span>
          )}
        </span>
        {anonymous ? (
          <button
            type="button"
            class="btn btn-small"
            onClick={() => setSession({ kind: "sign-in", message: null, canSkip: true })}
          >
            Sign in
          </button>
        ) : (
          <button type="button" class="btn btn-small" onClick={() => void toSignIn("Signed out.")}>
            Sign out
          </button>
        )}
      </header>
      <main id="main" class="page" ref={main} tabIndex={-1}>
        {route.page === "overview" && <Overview q={route.q} phase={route.phase} />}
        {route.page === "service" && <ServicePage key={route.name} name={route.name} />}
        {route.page === "not-found" && (
          <p>
            No page at <code>{route.hash}</code>. <a href="#/">All services</a>
          </p>
        )}
      </main>
      <div
        class="visually-hidden"
        aria-live="polite"
        aria-relevant="additions"
        data-testid="live-region"
      >
        {said.map((a) => (
          <p key={a.n}>{a.text}</p>
        ))}
      </div>
    </ShellContext.Provider>
  );
}

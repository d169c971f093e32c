/**
 * The sign-in form: one token field. The token is checked with `GET /api/v1/whoami` before it
 * is kept (in sessionStorage, see `session.ts`); a refused one is never stored, and the form
 * says why in the API's words.
 *
 * @module
 */

import { useEffect, useRef, useState } from "preact/hooks";
import { type ApiClient, ApiError, type WhoAmI } from "./api.js";
import { messageOf } from "./feeds.js";
import { tokenProblem } from "./session.js";
import { Icon } from "./ui.js";

export interface SignInProps {
  api: ApiClient;
  /** Why the user is here again (a refused or revoked token), shown above the form. */
  message: string | null;
  /** Anonymous reads are on: the user may go back to the read-only views. */
  canSkip: boolean;
  onSkip(): void;
  onSignedIn(token: string, who: WhoAmI): void;
}

export function SignIn({ api, message, canSkip, onSkip, onSignedIn }: SignInProps) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);

  const submit = async (e: Event) => {
    e.preventDefault();
    const problem = tokenProblem(token);
    if (problem !== null) {
      setError(problem);
      input.current?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const t = token.trim();
      const who = await api.whoami(t);
      if (who.role === "anonymous") {
        setError("the server did not recognise a token in that request; try again");
        return;
      }
      setToken("");
      onSignedIn(t, who);
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401
          ? `Sign-in refused: ${err.detail}`
          : `Cannot sign in: ${messageOf(err)}`,
      );
      input.current?.select();
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" class="signin">
      <div class="card signin-card">
        <h1>
          <Icon name="user" size={22} /> Sign in to Aviary
        </h1>
        {message !== null && (
          <p class="notice notice-warning" role="status">
            <Icon name="warning" />
            <span>{message}</span>
          </p>
        )}
        <p class="muted">
          Paste an API token: the operator token (the <code>operator-token</code> file in Aviary's
          data directory, or <code>AVIARY_TOKEN</code>), or one made with{" "}
          <code>aviary token create</code>. It is kept in this tab only, until you sign out or close
          it.
        </p>
        <form onSubmit={submit} noValidate>
          <div class="field">
            <label for="token">Token</label>
            <input
              id="token"
              ref={input}
              type="password"
              autocomplete="off"
              spellcheck={false}
              value={token}
              aria-invalid={error !== null}
              aria-describedby={error !== null ? "token-error" : undefined}
              onInput={(e) => setToken((e.target as HTMLInputElement).value)}
              disabled={busy}
            />
          </div>
          {error !== null && (
            <p id="token-error" class="notice notice-error" role="alert">
              <Icon name="warning" />
              <span>{error}</span>
            </p>
          )}
          <div class="form-buttons">
            <button type="submit" class="btn btn-primary" disabled={busy} aria-busy={busy}>
              {busy ? "Checking…" : "Sign in"}
            </button>
            {canSkip && (
              <button type="button" class="btn" onClick={onSkip}>
                Continue read-only
              </button>
            )}
          </div>
        </form>
      </div>
    </main>
  );
}

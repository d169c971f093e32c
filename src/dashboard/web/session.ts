/**
 * Where the bearer token lives in the browser: sessionStorage, so it is gone when the tab
 * closes and is never shared with other tabs, written in a URL, or sent anywhere but the
 * Authorization header of this origin's API calls.
 *
 * @module
 */

export const TOKEN_KEY = "aviary.token";

export interface TokenStore {
  get(): string | null;
  set(token: string): void;
  clear(): void;
}

/** The token store over a Storage; a browser that refuses storage keeps it in memory only. */
export function tokenStore(
  storage: Pick<Storage, "getItem" | "setItem" | "removeItem"> | null,
): TokenStore {
  let memory: string | null = null;
  return {
    get() {
      try {
        return storage?.getItem(TOKEN_KEY) ?? memory;
      } catch {
        return memory;
      }
    },
    set(token) {
      memory = token;
      try {
        storage?.setItem(TOKEN_KEY, token);
      } catch {
        // Private mode or storage disabled: the token lasts as long as the page.
      }
    },
    clear() {
      memory = null;
      try {
        storage?.removeItem(TOKEN_KEY);
      } catch {
        // Nothing stored.
      }
    },
  };
}

/** What is wrong with a token as typed, or null: the API reads `Bearer <token>` with no spaces. */
export function tokenProblem(text: string): string | null {
  const t = text.trim();
  if (t === "") return "enter a token";
  if (/\s/.test(t)) return "a token has no spaces in it; paste it again";
  return null;
}

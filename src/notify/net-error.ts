/**
 * Network failures as short codes for logs and gate messages. Only the code: the messages
 * of connection errors can contain the address, and a chat webhook's address is a secret.
 *
 * @module
 */

/** `timeout`, `aborted`, an errno or undici code (`ECONNREFUSED`, `UND_ERR_SOCKET`), or the error's name. */
export function errorCode(err: unknown): string {
  if (typeof err === "object" && err !== null) {
    const e = err as { name?: unknown; code?: unknown };
    if (e.name === "TimeoutError") return "timeout";
    if (e.name === "AbortError") return "aborted";
    if (typeof e.code === "string") return e.code;
    if (typeof e.name === "string") return e.name;
  }
  return "error";
}

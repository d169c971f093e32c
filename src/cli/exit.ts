/** Exit codes every verb uses, so scripts can tell a failure from a typo from a dead server. */
export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3 } as const;

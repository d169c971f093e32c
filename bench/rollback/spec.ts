/**
 * The spec bench:rollback runs `aviary serve` with: two services on the same two upstreams,
 * neither sticky.
 *
 * - `roll` (path /r/): stable v1, strategy setWeight 50 then a manual pause, so a deployed
 *   canary sits at 50 % until the bench aborts it.
 * - `static` (path /s/): a static split with the canary always named and `weight` 0 or 50, for
 *   the peer: cutting the canary off by editing the spec and sending SIGHUP.
 *
 * @module
 */

import { renameSync, writeFileSync } from "node:fs";

export interface SpecPorts {
  listen: number;
  admin: number;
  stable: number;
  canary: number;
}

export function rollbackSpec(p: SpecPorts, staticWeight: number): string {
  return `# Written by bench/rollback/spec.ts.
listen: 127.0.0.1:${p.listen}
admin: 127.0.0.1:${p.admin}
services:
  - name: roll
    match: { pathPrefix: /r/ }
    stable: { version: v1, targets: [http://127.0.0.1:${p.stable}] }
    strategy:
      steps:
        - setWeight: 50
        - pause: {}
  - name: static
    match: { pathPrefix: /s/ }
    stable: { version: v1, targets: [http://127.0.0.1:${p.stable}] }
    canary: { version: v2, targets: [http://127.0.0.1:${p.canary}] }
    weight: ${staticWeight}
`;
}

/** Writes the spec atomically (temp file + rename), so a reload never reads half a file. */
export function writeSpec(file: string, p: SpecPorts, staticWeight: number): void {
  writeFileSync(`${file}.tmp`, rollbackSpec(p, staticWeight));
  renameSync(`${file}.tmp`, file);
}

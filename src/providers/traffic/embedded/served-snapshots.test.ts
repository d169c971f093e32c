/**
 * Snapshots of what is served stay exactly as they were taken, however the map changes
 * afterwards and whichever of them is read (old or newest, by key or whole).
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ServedTraffic } from "../provider.js";
import { ServedSnapshots } from "./served-snapshots.js";

const served = (n: number): ServedTraffic => ({
  stable: `v${n}`,
  canary: null,
  weight: 0,
  routes: [],
  mirror: null,
  targets: { stable: [], canary: [] },
});

describe("served snapshots", () => {
  it("keep every snapshot as it was, over a long random walk of sets, deletes and reads", () => {
    const live = new ServedSnapshots();
    const model = new Map<string, ServedTraffic>();
    const held: Array<{
      snap: ReadonlyMap<string, ServedTraffic>;
      was: Map<string, ServedTraffic>;
    }> = [];
    let seed = 11;
    const next = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    const names = Array.from({ length: 12 }, (_, i) => `svc-${i}`);
    for (let step = 0; step < 3_000; step++) {
      const op = next(10);
      const name = names[next(names.length)] as string;
      if (op < 5) {
        const v = served(step);
        live.set(name, v);
        model.set(name, v);
      } else if (op < 7) {
        live.delete(name);
        model.delete(name);
      } else {
        const snap = live.snapshot();
        held.push({ snap, was: new Map(model) });
        if (held.length > 40) held.splice(next(held.length), 1);
      }
      // Read a few held snapshots by key and some whole; each must be what it was.
      for (let r = 0; r < 3 && held.length > 0; r++) {
        const { snap, was } = held[next(held.length)] as (typeof held)[number];
        for (const n of names) assert.equal(snap.get(n), was.get(n), `step ${step}, ${n}`);
        if (next(4) === 0)
          assert.deepEqual(new Map([...snap].sort()), new Map([...was].sort()), `step ${step}`);
      }
    }
  });

  it("hands out the same snapshot while nothing changes", () => {
    const live = new ServedSnapshots();
    live.set("a", served(1));
    const s = live.snapshot();
    assert.equal(live.snapshot(), s);
    live.set("a", s.get("a") as ServedTraffic);
    assert.equal(live.snapshot(), s, "setting the same object is no change");
    live.set("b", served(2));
    assert.notEqual(live.snapshot(), s);
    assert.equal(s.size, 1);
    assert.equal(live.snapshot().size, 2);
  });
});

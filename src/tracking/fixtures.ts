/**
 * The flag the tracking tests count against (test support, not shipped: excluded from the
 * build): `new-checkout`, boolean, `on` rolled out to 10 %, and the flag set serving it.
 *
 * @module
 */

import { compileFlag } from "../flags/evaluate.js";
import { Flag } from "../flags/schema.js";
import type { FlagSet } from "../flags/served.js";

export const CHECKOUT = Flag.parse({
  key: "new-checkout",
  type: "boolean",
  variants: { on: true, off: false },
  defaultVariant: "off",
  rollout: { variant: "on", percent: 10 },
});

export const CHECKOUT_SET: FlagSet = {
  revision: 3,
  generation: 1,
  flags: new Map([[CHECKOUT.key, compileFlag(CHECKOUT)]]),
  rollouts: new Map(),
};

/**
 * What a flag with a strategy serves, given its subject's traffic state in the store: during a
 * rollout, the spec's rollout at the weight the steps have reached (the control as the rollout
 * recorded it); once the rollout has ended, the variant that is stable for everyone — the
 * control after an abort, the new variant after a promotion. "For everyone" is meant
 * literally: rules that named the rolled-out variant (a beta-tester segment) are cut off by an
 * abort too, which is what rolling a harmful variant back has to do.
 *
 * @module
 */

import type { TrafficState } from "../rollout/types.js";
import type { Flag } from "./schema.js";

/** What the flag serves under `traffic` (undefined: nothing recorded yet). */
export function effectiveFlag(flag: Flag, traffic: TrafficState | undefined): Flag {
  if (flag.strategy === undefined || flag.rollout === undefined) return flag;
  const has = (variant: string) => Object.hasOwn(flag.variants, variant);
  // Nothing recorded yet (the spec was just applied), or a state naming variants this flag no
  // longer has (renamed in the spec; the next transition brings the state in line): nobody gets
  // the new variant until a step gives it to them.
  if (traffic === undefined || !has(traffic.stable.version))
    return { ...flag, rollout: { ...flag.rollout, percent: 0 } };
  if (traffic.canary === null || !has(traffic.canary.version))
    return everyone(flag, traffic.stable.version);
  return {
    ...flag,
    rollout: {
      ...flag.rollout,
      variant: traffic.canary.version,
      control: traffic.stable.version,
      percent: traffic.weight,
    },
  };
}

function everyone(flag: Flag, variant: string): Flag {
  const { rollout: _rollout, split: _split, ...rest } = flag;
  return { ...rest, rules: [], defaultVariant: variant };
}

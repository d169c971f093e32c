/**
 * Template variables in provider queries and URLs: `{{args.NAME}}`, `{{service}}`,
 * `{{canaryVersion}}`, `{{stableVersion}}`, `{{window}}` (the window's length as a PromQL
 * duration), `{{from}}` and `{{to}}` (the window's ends, epoch ms); counts mode adds `{{version}}`
 * per arm. Resolved once per measurement, before anything is sent; an unknown variable is a
 * {@link ProviderError}, never an empty string that would quietly change the query.
 *
 * @module
 */

import { type MeasureContext, ProviderError } from "../../analysis/types.js";

const VARIABLE = /\{\{\s*([^{}\s]*)\s*\}\}/g;

/** A window length as a PromQL duration: whole seconds as `37s`, anything finer in `ms`. */
export function promDuration(ms: number): string {
  const whole = Math.max(1, Math.round(ms));
  return whole % 1000 === 0 ? `${whole / 1000}s` : `${whole}ms`;
}

/** The variables of one measurement, by the name written between the braces. */
export function templateVariables(
  from: number,
  to: number,
  ctx: MeasureContext,
): Map<string, string> {
  const vars = new Map<string, string>([
    ["service", ctx.service],
    ["canaryVersion", ctx.canaryVersion],
    ["stableVersion", ctx.stableVersion],
    ["window", promDuration(to - from)],
    // The window itself (epoch ms), for an application's own endpoint that counts per window.
    ["from", String(from)],
    ["to", String(to)],
  ]);
  for (const [name, value] of Object.entries(ctx.args)) vars.set(`args.${name}`, value);
  return vars;
}

/**
 * Replaces every `{{name}}` in `text`; `encode` escapes each value for where it lands (a URL
 * component, say). Throws ProviderError("template") naming the variable and what is known.
 */
export function substitute(
  text: string,
  vars: ReadonlyMap<string, string>,
  what: string,
  encode: (value: string) => string = (v) => v,
): string {
  return text.replace(VARIABLE, (_match, name: string) => {
    const value = vars.get(name);
    if (value === undefined) {
      const known = [...vars.keys()].map((k) => `{{${k}}}`).join(", ");
      throw new ProviderError(
        "template",
        `${what}: unknown template variable {{${name}}}; known: ${known}`,
      );
    }
    return encode(value);
  });
}

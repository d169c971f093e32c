/**
 * One metric provider for services and another for flags (`flag:<key>` subjects): a
 * template's `builtin` metric measures whichever subject the analysis names.
 *
 * @module
 */

import type { MeasureContext, MetricProvider, Observation } from "../../analysis/types.js";
import { isFlagSubject } from "../../flags/subjects.js";

export class SubjectDispatch implements MetricProvider {
  readonly type: string;
  readonly #services: MetricProvider;
  readonly #flags: MetricProvider;

  constructor(services: MetricProvider, flags: MetricProvider) {
    this.type = services.type;
    this.#services = services;
    this.#flags = flags;
  }

  measure(from: number, to: number, ctx: MeasureContext): Promise<Observation> {
    return (isFlagSubject(ctx.service) ? this.#flags : this.#services).measure(from, to, ctx);
  }
}

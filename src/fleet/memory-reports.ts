/**
 * Router reports kept in this process: for a control plane that has no store of its own to
 * share (the fleet provider's conformance suite). `aviary serve` keeps them in its store.
 *
 * @module
 */

import type { RouterReport, StoreTx } from "../store/store.js";

export class MemoryRouterReports
  implements Pick<StoreTx, "putRouterReport" | "routerReports" | "deleteRouterReport">
{
  readonly #reports = new Map<string, RouterReport>();

  async putRouterReport(report: RouterReport): Promise<void> {
    this.#reports.set(report.router, structuredClone(report));
  }

  async routerReports(): Promise<RouterReport[]> {
    return [...this.#reports.values()].map((r) => structuredClone(r));
  }

  async deleteRouterReport(router: string): Promise<void> {
    this.#reports.delete(router);
  }
}

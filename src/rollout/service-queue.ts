/**
 * Work for one service runs one piece at a time, in the order it was queued; different services
 * proceed independently. A spec application queues behind every service it touches, so its plan
 * is made on what is committed.
 *
 * @module
 */

export class ServiceQueue {
  readonly #tails = new Map<string, Promise<unknown>>();

  /** Queues work for one service behind whatever is already running for it. */
  run<T>(service: string, work: () => Promise<T>): Promise<T> {
    return this.runAll([service], work);
  }

  /** Queues work behind whatever is already running for any of `services`; they wait for it in turn. */
  runAll<T>(services: readonly string[], work: () => Promise<T>): Promise<T> {
    const run = Promise.allSettled(services.map((s) => this.#tails.get(s))).then(work);
    const settled = run.catch(() => undefined);
    for (const service of services) this.#tails.set(service, settled);
    void settled.then(() => {
      for (const service of services)
        if (this.#tails.get(service) === settled) this.#tails.delete(service);
    });
    return run;
  }

  /** Resolves once everything queued so far has finished, whatever its outcome. */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.#tails.values()]);
  }
}

/**
 * `--name value` arguments of the helper processes (upstream, peers, paced generator); they
 * are started only by the orchestrator, so a missing or bad value is a bug and throws.
 *
 * @module
 */

export class ChildArgs {
  private readonly values = new Map<string, string>();

  constructor(argv: readonly string[] = process.argv.slice(2)) {
    for (let i = 0; i < argv.length; i += 2) {
      const name = argv[i];
      const value = argv[i + 1];
      if (name === undefined || !name.startsWith("--") || value === undefined) {
        throw new Error(`expected --name value pairs, got ${argv.join(" ")}`);
      }
      this.values.set(name.slice(2), value);
    }
  }

  text(name: string): string {
    const v = this.values.get(name);
    if (v === undefined) throw new Error(`missing --${name}`);
    return v;
  }

  /** The value, or undefined when the flag was not given. */
  optional(name: string): string | undefined {
    return this.values.get(name);
  }

  number(name: string): number {
    const n = Number(this.text(name));
    if (!Number.isFinite(n)) throw new Error(`--${name} must be a number`);
    return n;
  }
}

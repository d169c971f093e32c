/**
 * One base error with a stable machine-readable code (`AVIARY_*`), so callers branch on
 * `code` rather than on message text, and the API can map codes to problem types.
 *
 * @module
 */

export class AviaryError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = "AviaryError";
  }
}

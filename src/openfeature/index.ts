/**
 * `aviary/openfeature`: the Node provider for OpenFeature's server SDK. See
 * docs/feature-flags.md ("The Node provider").
 *
 * @module
 */

export { AviaryProvider, type AviaryProviderOptions } from "./provider.js";
export type { ReporterStats } from "./reporter.js";

/**
 * What `aviary render <engine>` writes: the configuration an external engine needs so that
 * Aviary can drive it at run time (the fragment the user includes, and the files it reads).
 *
 * @module
 */

export interface RenderedFile {
  /** A file name (no directory): where it goes is the user's choice, or the settings'. */
  name: string;
  content: string;
}

export interface RenderedConfig {
  /** Every file, the one to include first. */
  files: RenderedFile[];
  /** What the user does with them, in a few lines (printed to stderr by the CLI). */
  instructions: string;
}

/**
 * The database file before SQLite opens it: who may read it, and whether it is Aviary's.
 *
 * **Modes.** SQLite creates a database with 0644 (less the umask), readable by anyone who can
 * reach the directory; the store holds every rollout's history. A new store is therefore
 * created 0600 by Aviary itself, and SQLite gives the `-wal` and `-shm` files it creates later
 * the mode of the database file (its `findCreateFileMode`), so they are 0600 too. An existing
 * database and its side files that are open to group or others are narrowed to 0600 on open.
 * Pre-creating with a mode is narrower than setting the process umask, which would change
 * every file the process creates while it is set, including in other code running meanwhile.
 *
 * **Identity.** A new store is built beside the file (`<file>.<pid>.<random>.new`: created 0600,
 * schema applied, closed) and then linked into place, so the file is either absent or a whole
 * Aviary store: a crash during the first start never leaves a 0-byte `aviary.db` behind, and an
 * empty file found later is a sign of trouble (a failed copy, a truncation), not of a first
 * start. Such a file, one that is not SQLite, or a SQLite file without Aviary's schema is
 * refused (see {@link StoreNotAviaryError}) unless the caller says to start a store there.
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import {
  chmodSync,
  closeSync,
  fsyncSync,
  linkSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
} from "node:fs";
import { dirname } from "node:path";
import { StoreNotAviaryError } from "../errors.js";

export const STORE_FILE_MODE = 0o600;

/** The first 16 bytes of every SQLite 3 database. */
const SQLITE_HEADER = Buffer.from("SQLite format 3\0", "latin1");

/** SQLite's side files of a database in WAL mode. */
export function sideFiles(file: string): string[] {
  return [`${file}-wal`, `${file}-shm`, `${file}-journal`];
}

/** What {@link prepareStoreFile} found. */
export type StoreFileState = "created" | "existing" | "empty";

/**
 * Makes `file` ready for SQLite to open: builds a new store with `build` when there is none,
 * refuses a file that is not an Aviary store (unless `initStore`), narrows modes.
 */
export function prepareStoreFile(
  file: string,
  initStore: boolean,
  build: (tmp: string) => void,
): StoreFileState {
  const size = sizeOf(file);
  if (size === undefined) {
    createStore(file, build);
    return "created";
  }
  narrowModes(file);
  if (size === 0 && !(sizeOf(`${file}-wal`) ?? 0)) {
    if (initStore) return "empty";
    throw new StoreNotAviaryError(
      file,
      "exists but is empty (0 bytes)",
      "move it away (or restore a backup over it), or pass --init-store to start a fresh store there",
    );
  }
  if (size > 0 && !startsWithSqliteHeader(file)) {
    throw new StoreNotAviaryError(
      file,
      "exists but is not a SQLite database",
      "move it away or point --data-dir at another directory",
    );
  }
  return "existing";
}

/** The error for a SQLite file that has no Aviary schema (checked once SQLite has it open). */
export function notAnAviaryStore(file: string): StoreNotAviaryError {
  return new StoreNotAviaryError(
    file,
    "is a SQLite database but not an Aviary store (it has no schema_migrations table)",
    "point --data-dir at another directory, or pass --init-store to add Aviary's tables to it",
  );
}

function sizeOf(file: string): number | undefined {
  try {
    return statSync(file).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

function startsWithSqliteHeader(file: string): boolean {
  const fd = openSync(file, "r");
  try {
    const head = Buffer.alloc(SQLITE_HEADER.length);
    const n = readSync(fd, head, 0, head.length, 0);
    return n === head.length && head.equals(SQLITE_HEADER);
  } finally {
    closeSync(fd);
  }
}

/** Narrows the database and its side files to 0600 where they are open to group or others. */
function narrowModes(file: string): void {
  for (const f of [file, ...sideFiles(file)]) {
    try {
      if ((statSync(f).mode & 0o077) !== 0) chmodSync(f, STORE_FILE_MODE);
    } catch {
      // Absent, or not ours to change: SQLite reports what matters when it opens the file.
    }
  }
}

function createStore(file: string, build: (tmp: string) => void): void {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.new`;
  try {
    // 0600 whatever the umask (a umask only ever removes bits).
    closeSync(openSync(tmp, "wx", STORE_FILE_MODE));
    build(tmp);
    try {
      // A link never replaces: if another process created the store meanwhile, keep theirs.
      linkSync(tmp, file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EEXIST") return;
      // A file system without hard links: rename, which replaces, is the next best.
      if (code === "EPERM" || code === "ENOTSUP" || code === "ENOSYS") renameSync(tmp, file);
      else throw err;
    }
    syncDirectory(dirname(file));
  } finally {
    for (const f of [tmp, ...sideFiles(tmp)]) rmSync(f, { force: true });
  }
}

/** Makes the new directory entry durable; best effort where a directory cannot be opened. */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

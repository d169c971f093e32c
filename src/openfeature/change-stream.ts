/**
 * Follows Aviary's change stream (server-sent events) on fetch: `onChange` for each event whose
 * data asks to refetch, `onEnd` once when the stream answers anything but 200, ends, fails, or
 * stays silent past `idleMs`. Aviary writes a heartbeat comment every 15 s, so silence means a
 * connection that is gone without TCP having said so (a machine that vanished); the caller then
 * fetches the flags again and opens a new stream, through whatever instance answers.
 *
 * Not undici's `EventSource`: it warns, once per process, that it is experimental, in the log
 * of every application that loads this provider, and it cannot notice a silent stream.
 *
 * @module
 */

export interface ChangeStream {
  close(): void;
}

export interface ChangeStreamOptions {
  /** Silence after which the stream is given up (ms). */
  idleMs: number;
  /** The stream answered 200: it is open. */
  onOpen(): void;
  /** An event asked the client to fetch its flags again. */
  onChange(): void;
  /** The stream is over, with why; called once, never after `close()`. */
  onEnd(err: Error): void;
}

/** An event larger than this is not Aviary's: the stream is given up. */
const MAX_EVENT_CHARS = 64 * 1024;

export function followChanges(url: string, opts: ChangeStreamOptions): ChangeStream {
  const abort = new AbortController();
  let closed = false;
  let idle: NodeJS.Timeout | undefined;
  const quiet = () => {
    clearTimeout(idle);
    idle = setTimeout(
      () => abort.abort(new Error(`the change stream was silent for ${opts.idleMs} ms`)),
      opts.idleMs,
    );
    idle.unref();
  };

  const read = async () => {
    quiet();
    const res = await fetch(url, {
      headers: { accept: "text/event-stream" },
      signal: abort.signal,
    });
    if (res.status !== 200 || res.body === null) {
      await res.body?.cancel();
      throw new Error(`the change stream answered ${res.status}`);
    }
    opts.onOpen();
    let pending = "";
    for await (const text of res.body.pipeThrough(new TextDecoderStream())) {
      quiet();
      // Events end with a blank line. Aviary ends lines with LF; CRLF is read as LF (a CR that
      // ends one chunk is joined with the LF that starts the next).
      pending = (pending + text).replace(/\r\n/g, "\n");
      for (let end = pending.indexOf("\n\n"); end >= 0; end = pending.indexOf("\n\n")) {
        dispatch(pending.slice(0, end));
        pending = pending.slice(end + 2);
      }
      if (pending.length > MAX_EVENT_CHARS)
        throw new Error(`an event of the change stream is over ${MAX_EVENT_CHARS} characters`);
    }
    throw new Error("the change stream ended");
  };

  const dispatch = (event: string) => {
    const data = event
      .split("\n")
      .filter((line) => line.startsWith("data:"))
      .map((line) => line.slice(line.startsWith("data: ") ? 6 : 5))
      .join("\n");
    if (data.includes("refetchEvaluation")) opts.onChange();
  };

  read().catch((err: unknown) => {
    clearTimeout(idle);
    if (closed) return;
    closed = true;
    const reason = abort.signal.aborted ? abort.signal.reason : err;
    opts.onEnd(reason instanceof Error ? reason : new Error(String(reason)));
  });
  return {
    close() {
      closed = true;
      clearTimeout(idle);
      abort.abort();
    },
  };
}

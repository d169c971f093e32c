/**
 * The confirmation every command goes through: a modal `<dialog>` (the rest of the page is
 * inert while it is open), focus kept inside it with Tab and Shift+Tab, Escape to cancel,
 * focus back on the button that opened it afterwards. A refused command keeps the dialog open
 * with the API's own words.
 *
 * @module
 */

import { useEffect, useId, useRef, useState } from "preact/hooks";
import type { Action } from "./actions.js";
import { messageOf } from "./feeds.js";
import { Icon } from "./ui.js";

export interface ConfirmDialogProps {
  action: Action | null;
  service: string;
  onCancel(): void;
  /** Sends the command; a rejection's message is shown in the dialog. */
  onConfirm(reason: string): Promise<void>;
}

const FOCUSABLE =
  'button:not([disabled]), input:not([disabled]), textarea:not([disabled]), [href], [tabindex]:not([tabindex="-1"])';

export function ConfirmDialog({ action, service, onCancel, onConfirm }: ConfirmDialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const cancelRef = useRef<HTMLButtonElement>(null);
  const confirmRef = useRef<HTMLButtonElement>(null);
  const opener = useRef<Element | null>(null);
  const shown = useRef<Action | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [reason, setReason] = useState("");
  const id = useId();

  const restoreFocus = () => {
    const el = opener.current;
    opener.current = null;
    if (el instanceof HTMLElement && el.isConnected) el.focus();
  };

  useEffect(() => {
    const dialog = ref.current;
    if (dialog === null) return;
    if (action !== null && !dialog.open) {
      opener.current = document.activeElement;
      setError(null);
      setReason("");
      setBusy(false);
      dialog.showModal();
      // A destructive command starts on Cancel: Enter alone never confirms it.
      (action.confirm.danger ? cancelRef.current : confirmRef.current)?.focus();
    } else if (action === null && dialog.open) {
      dialog.close();
      restoreFocus();
    }
  }, [action]);

  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key !== "Tab") return;
    const dialog = ref.current;
    if (dialog === null) return;
    const items = [...dialog.querySelectorAll<HTMLElement>(FOCUSABLE)];
    const first = items[0];
    const last = items.at(-1);
    if (first === undefined || last === undefined) return;
    if (e.shiftKey && document.activeElement === first) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      await onConfirm(reason);
    } catch (err) {
      setError(messageOf(err));
      setBusy(false);
    }
  };

  // The last action stays rendered until the dialog has closed: emptied while still open, it
  // would drop focus to the page and flash an empty box.
  if (action !== null) shown.current = action;
  const c = shown.current?.confirm;
  return (
    <dialog
      ref={ref}
      class="confirm"
      aria-labelledby={`${id}-title`}
      aria-describedby={`${id}-body`}
      onKeyDown={onKeyDown}
      onCancel={(e) => {
        e.preventDefault();
        if (!busy) onCancel();
      }}
      onClose={restoreFocus}
    >
      {c !== undefined && (
        <form method="dialog" onSubmit={submit}>
          <h2 id={`${id}-title`}>{c.title}</h2>
          <p id={`${id}-body`}>{c.body}</p>
          <p class="muted">Service: {service}</p>
          {c.reason && (
            <div class="field">
              <label for={`${id}-reason`}>Reason (optional, kept in the history)</label>
              <input
                id={`${id}-reason`}
                type="text"
                maxLength={500}
                value={reason}
                onInput={(e) => setReason((e.target as HTMLInputElement).value)}
                disabled={busy}
              />
            </div>
          )}
          {error !== null && (
            <p class="notice notice-error" role="alert">
              <Icon name="warning" />
              <span>{error}</span>
            </p>
          )}
          <div class="dialog-buttons">
            <button
              type="button"
              class="btn"
              ref={cancelRef}
              onClick={() => onCancel()}
              disabled={busy}
            >
              Cancel
            </button>
            <button
              type="submit"
              class={`btn ${c.danger ? "btn-danger" : "btn-primary"}`}
              ref={confirmRef}
              disabled={busy}
              aria-busy={busy}
            >
              {busy ? "Sending…" : c.button}
            </button>
          </div>
        </form>
      )}
    </dialog>
  );
}

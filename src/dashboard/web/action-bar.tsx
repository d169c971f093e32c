/**
 * The operator's buttons for one service, and the confirmation each goes through. Only an
 * operator token sees them; what the API refuses is shown in the dialog, in its own words.
 *
 * @module
 */

import { useState } from "preact/hooks";
import { type Action, type ActionKind, doneText, requestOf } from "./actions.js";
import { ConfirmDialog } from "./confirm-dialog.js";
import { useShell } from "./context.js";
import { Icon } from "./ui.js";

const ICONS: Record<ActionKind, Parameters<typeof Icon>[0]["name"]> = {
  "open-gate": "gate",
  promote: "play",
  "promote-full": "arrow-up",
  pause: "pause",
  resume: "play",
  abort: "cross",
  retry: "play",
  undo: "back",
};

/** The pending action on `service` and the dialog that confirms it; `ask` opens the dialog. */
export function useConfirmedActions(service: string, onDone: () => void) {
  const shell = useShell();
  const [pending, setPending] = useState<Action | null>(null);
  const confirm = async (reason: string) => {
    if (pending === null) return;
    const req = requestOf(pending, reason);
    if (req.kind === "gate") await shell.api.openGate(service, req.gate);
    else await shell.api.command(service, req.verb, req.body);
    shell.announce(doneText(pending, service));
    setPending(null);
    onDone();
  };
  const dialog = (
    <ConfirmDialog
      action={pending}
      service={service}
      onCancel={() => setPending(null)}
      onConfirm={confirm}
    />
  );
  return { ask: setPending, dialog };
}

export function ActionButton({
  action,
  onClick,
}: {
  action: Action;
  onClick(action: Action): void;
}) {
  const danger = action.kind === "abort" || action.kind === "undo";
  return (
    <button
      type="button"
      class={`btn ${danger ? "btn-danger-outline" : action.kind === "open-gate" ? "btn-primary" : ""}`}
      onClick={() => onClick(action)}
      data-action={action.kind}
    >
      <Icon name={ICONS[action.kind]} />
      <span>{action.label}</span>
    </button>
  );
}

export function ActionBar({
  actions,
  onAction,
}: {
  actions: readonly Action[];
  onAction(action: Action): void;
}) {
  if (actions.length === 0) return null;
  return (
    <section class="actions" aria-label="Rollout commands">
      {actions.map((a) => (
        <ActionButton key={`${a.kind}:${a.gate ?? ""}`} action={a} onClick={onAction} />
      ))}
    </section>
  );
}

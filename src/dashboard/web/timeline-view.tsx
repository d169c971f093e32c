/**
 * The step timeline as an ordered list: done steps ticked, the current one marked (and
 * `aria-current`), gates where they hold, a countdown on a timed pause.
 *
 * @module
 */

import { currentItem, type ItemState, type TimelineItem } from "./timeline.js";
import { CountdownView, Icon } from "./ui.js";

const STATE_WORDS: Record<ItemState, string> = {
  done: "done",
  current: "current",
  upcoming: "to come",
  failed: "stopped here",
};

function Marker({ item }: { item: TimelineItem }) {
  switch (item.state) {
    case "done":
      return <Icon name="check" size={14} />;
    case "current":
      return <Icon name={item.kind === "gate" ? "gate" : "play"} size={14} />;
    case "failed":
      return <Icon name="cross" size={14} />;
    default:
      return item.kind === "gate" ? <Icon name="gate" size={14} /> : null;
  }
}

export function TimelineView({ items }: { items: readonly TimelineItem[] }) {
  const at = currentItem(items);
  return (
    <ol class="timeline" data-testid="timeline">
      {items.map((item, i) => (
        <li
          key={item.key}
          class={`tl-item tl-${item.state} tl-${item.kind}`}
          aria-current={i === at ? "step" : undefined}
          data-testid={i === at ? "current-step" : undefined}
        >
          <span class="tl-marker">
            <Marker item={item} />
          </span>
          <div class="tl-body">
            <div class="tl-title">
              {item.number !== null && <span class="tl-number">{item.number}</span>}
              <span>{item.label}</span>
              <span class="visually-hidden">, {STATE_WORDS[item.state]}</span>
            </div>
            {item.gate !== null && <div class="tl-sub muted">{item.gate.type} gate</div>}
            {item.note !== null && <div class="tl-note">{item.note}</div>}
            {item.countdown !== null && <CountdownView countdown={item.countdown} />}
          </div>
        </li>
      ))}
    </ol>
  );
}

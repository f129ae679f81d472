// The call page's stats panel: a toggle in the call menu; while it is open, once a second,
// what this browser receives and sends and what the browser and the node estimate of its links
// (docs/protocol.md `bandwidth-estimate`). Closed, it reads nothing.
import { readStats, summarize } from "../call-stats.js";
import { byId, renderOnChange, setText } from "./dom.js";

const INTERVAL_MS = 1000;

function rate(bps) {
  if (bps == null) return "—";
  return bps >= 1e6 ? `${(bps / 1e6).toFixed(2)} Mbit/s` : `${Math.round(bps / 1e3)} kbit/s`;
}

// The node's values: null means the path showed no congestion, i.e. no limit.
function limit(bps) {
  return bps == null ? "no limit" : rate(bps);
}

export function mountCallStats({ store, app }) {
  const el = {
    toggle: byId("btn-stats"),
    panel: byId("call-stats"),
    received: byId("stats-received"),
    sent: byId("stats-sent"),
    browser: byId("stats-browser"),
    node: byId("stats-node"),
  };
  let timer = null;
  let previous = null;
  let node = null;

  const render = (summary) => {
    const r = summary.received;
    setText(
      el.received,
      r ? `${r.width}×${r.height} · ${r.fps} fps · ${rate(r.kbps == null ? null : r.kbps * 1e3)}` +
        ` · ${r.freezes} freeze${r.freezes === 1 ? "" : "s"} (${r.freezeSeconds.toFixed(1)} s)` : "—",
    );
    const s = summary.sent;
    setText(
      el.sent,
      s ? `${rate(s.kbps == null ? null : s.kbps * 1e3)}${s.limitation && s.limitation !== "none" ? ` · limited by ${s.limitation}` : ""}` : "—",
    );
    setText(el.browser, `up ${rate(summary.browserOutgoing)} · down ${rate(summary.browserIncoming)}`);
    setText(
      el.node,
      node ? `down ${limit(node.downlink)} · up target ${limit(node.uplinkTarget)}` : "—",
    );
  };

  const sample = async () => {
    const pc = app.session?.pc;
    if (!pc || pc.signalingState === "closed") return;
    try {
      const now = await readStats(pc);
      render(summarize(now, previous));
      previous = now;
    } catch {
      // A connection closing between the check and getStats(): the next tick starts afresh.
      previous = null;
    }
  };

  const setOpen = (open) => {
    el.panel.hidden = !open;
    el.toggle.setAttribute("aria-pressed", String(open));
    clearInterval(timer);
    timer = null;
    previous = null;
    if (open) {
      sample();
      timer = setInterval(sample, INTERVAL_MS);
    }
  };

  el.toggle.addEventListener("click", () => setOpen(el.panel.hidden));
  renderOnChange(store, (s) => s.call.nodeEstimate, (estimate) => {
    node = estimate ?? null;
  });
  // A new call starts with fresh rates.
  renderOnChange(store, (s) => s.call.roomId, () => {
    previous = null;
  });
}

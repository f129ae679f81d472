// The stats toggle of a group room's tiles: while a tile's toggle is on, once a second, what
// this browser receives of that video (resolution, fps, kbit/s, from the receiver's getStats())
// and the simulcast layer the node forwards (`get-video-layers`: the node knows which layer it
// sends; the received resolution alone cannot tell a small layer from a large one the
// publisher's encoder scaled down). On the own tile: what is sent, per encoding, with the ones
// the node paused (`set-video-layers`). Off, it reads nothing.
import { setText } from "./dom.js";

const INTERVAL_MS = 1000;

function kbps(bytes, before, ms) {
  if (before == null || ms <= 0) return null;
  return Math.max(0, Math.round(((bytes - before) * 8) / ms));
}

function rateText(value) {
  return value == null ? "— kbit/s" : `${value} kbit/s`;
}

/** Received video of `track`: {width, height, fps, bytes}, or null. */
async function inbound(pc, track) {
  const receiver = pc.getReceivers().find((r) => r.track === track);
  if (!receiver) return null;
  const report = await receiver.getStats();
  let found = null;
  report.forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "video") found = r;
  });
  if (!found) return null;
  return {
    width: found.frameWidth ?? 0,
    height: found.frameHeight ?? 0,
    fps: Math.round(found.framesPerSecond ?? 0),
    bytes: found.bytesReceived ?? 0,
  };
}

/** Sent camera encodings: [{rid, active, width, height, fps, bytes}], smallest first. */
async function outbound(pc, track) {
  const sender = pc.getSenders().find((s) => s.track === track);
  if (!sender) return [];
  // The encodings as the client listed them: smallest first (simulcast.js).
  const encodings = sender.getParameters().encodings ?? [];
  const active = new Map(encodings.map((e) => [e.rid ?? "", e.active !== false]));
  const rank = new Map(encodings.map((e, i) => [e.rid ?? "", i]));
  const report = await sender.getStats();
  const layers = [];
  report.forEach((r) => {
    if (r.type !== "outbound-rtp" || r.kind !== "video") return;
    const rid = r.rid ?? "";
    layers.push({
      rid,
      active: active.get(rid) ?? true,
      width: r.frameWidth ?? 0,
      height: r.frameHeight ?? 0,
      fps: Math.round(r.framesPerSecond ?? 0),
      bytes: r.bytesSent ?? 0,
    });
  });
  return layers.sort((a, b) => (rank.get(a.rid) ?? 0) - (rank.get(b.rid) ?? 0));
}

/**
 * Adds the toggle and the panel to `tile` (an <li> of room-view.js). `source()` says what the
 * tile shows now: {pc, track, self, layerOf} — `layerOf()` resolves to the node's layer text.
 */
export function mountTileStats(tile, source) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "tile-stats-toggle";
  button.textContent = "Stats";
  button.setAttribute("aria-pressed", "false");
  const panel = document.createElement("p");
  panel.className = "tile-stats";
  panel.hidden = true;
  tile.append(button, panel);

  let timer = null;
  let previous = null; // {at, bytes} of the last sample

  const sample = async () => {
    const { pc, track, self, layerOf } = source();
    if (!pc || !track || pc.signalingState === "closed") {
      setText(panel, "no video");
      return;
    }
    try {
      const at = performance.now();
      if (self) {
        const layers = await outbound(pc, track);
        const bytes = layers.reduce((sum, l) => sum + l.bytes, 0);
        const rate = kbps(bytes, previous?.bytes, at - (previous?.at ?? at));
        previous = { at, bytes };
        const top = [...layers].reverse().find((l) => l.active && l.width) ?? layers.at(-1);
        const names = layers.map((l) => (l.active ? l.rid || "one" : `${l.rid} paused`));
        const size = top ? `${top.width}×${top.height} · ${top.fps} fps` : "—";
        setText(panel, `sent ${size} · ${rateText(rate)} · layers ${names.join(", ") || "—"}`);
        return;
      }
      const [now, layer] = await Promise.all([inbound(pc, track), layerOf()]);
      if (!now) {
        setText(panel, "no video yet");
        return;
      }
      const rate = kbps(now.bytes, previous?.bytes, at - (previous?.at ?? at));
      previous = { at, bytes: now.bytes };
      setText(
        panel,
        `${now.width}×${now.height} · ${now.fps} fps · ${rateText(rate)} · layer ${layer}`,
      );
    } catch {
      previous = null; // a connection closing meanwhile: start afresh next tick
    }
  };

  button.addEventListener("click", () => {
    const open = panel.hidden;
    panel.hidden = !open;
    button.setAttribute("aria-pressed", String(open));
    clearInterval(timer);
    timer = null;
    previous = null;
    if (open) {
      sample();
      timer = setInterval(sample, INTERVAL_MS);
    }
  });
  // Removed from the page (room-view.js syncTiles): stop sampling.
  tile.stopStats = () => clearInterval(timer);
}

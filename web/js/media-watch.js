// Whether a call's media still arrives, from the browser's own statistics (W3C webrtc-stats,
// `inbound-rtp` packetsReceived). When this browser changes networks its inbound media stops at
// once — the partner (p2p) or the node (sfu) sends to an address that is gone — while Chromium
// reports ICE `disconnected` only seconds later (about 6 s in the lab, docs/networks.md), as
// late as socket.io's own ping timeout. A stall is the early sign the page acts on: it probes
// its socket (signaling.js) and, after the resume, restarts ICE (app.js). Pure functions apart
// from `inboundPackets`, which only reads a stats report.

/** Inbound media silent this long counts as stalled: audio alone is ~50 packets a second (Opus,
 * 20 ms frames, and a muted track still sends silence), so this is no pause in the talk. */
export const STALL_MS = 1500;

/** Packets received on every inbound RTP stream of an RTCStatsReport. */
export function inboundPackets(report) {
  let total = 0;
  report.forEach((r) => {
    if (r.type === "inbound-rtp") total += Number(r.packetsReceived ?? 0);
  });
  return total;
}

/**
 * The watch after one sample (`packets` received so far, at `now` ms): `{packets, movedAt}`,
 * where `movedAt` is when the count last grew (null: no media has arrived yet). `watch` is the
 * previous one, or null for the first sample of a connection.
 */
export function watchInbound(watch, packets, now) {
  if (watch === null || packets > watch.packets) {
    return { packets, movedAt: packets > 0 ? now : null };
  }
  return watch;
}

/** Whether the media had arrived and then stopped for at least STALL_MS by `now`. */
export function stalled(watch, now) {
  return watch?.movedAt != null && now - watch.movedAt >= STALL_MS;
}

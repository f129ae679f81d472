// What the stats panel shows, read from an RTCPeerConnection's getStats() (W3C webrtc-stats):
// received video (resolution, fps, kbit/s, freezes), sent video (kbit/s, what limits it) and
// the browser's own estimates on the selected candidate pair. Pure reading: rates come from the
// difference with the previous sample, which the caller keeps.

/** One sample: the raw counters and the time they were read. */
export async function readStats(pc) {
  const report = await pc.getStats();
  const out = { at: performance.now(), inbound: null, outbound: null, pair: null };
  let pairId = null;
  report.forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "video" && !out.inbound) {
      out.inbound = {
        bytes: r.bytesReceived ?? 0,
        width: r.frameWidth ?? 0,
        height: r.frameHeight ?? 0,
        fps: r.framesPerSecond ?? 0,
        freezes: r.freezeCount ?? 0,
        freezeSeconds: r.totalFreezesDuration ?? 0,
      };
    }
    if (r.type === "outbound-rtp" && r.kind === "video") {
      const bytes = (out.outbound?.bytes ?? 0) + (r.bytesSent ?? 0);
      out.outbound = { bytes, limitation: r.qualityLimitationReason ?? "" };
    }
    if (r.type === "transport" && r.selectedCandidatePairId) pairId = r.selectedCandidatePairId;
  });
  const pair = pairId ? report.get(pairId) : null;
  if (pair) {
    out.pair = {
      outgoing: pair.availableOutgoingBitrate ?? null,
      incoming: pair.availableIncomingBitrate ?? null,
    };
  }
  return out;
}

function kbps(bytesNow, bytesBefore, ms) {
  if (bytesBefore == null || ms <= 0) return null;
  return Math.max(0, Math.round(((bytesNow - bytesBefore) * 8) / ms));
}

/** Rates between two samples (`before` may be null: no rates yet). */
export function summarize(now, before) {
  const ms = before ? now.at - before.at : 0;
  const inbound = now.inbound;
  const outbound = now.outbound;
  return {
    received: inbound && {
      width: inbound.width,
      height: inbound.height,
      fps: Math.round(inbound.fps),
      kbps: kbps(inbound.bytes, before?.inbound?.bytes, ms),
      freezes: inbound.freezes,
      freezeSeconds: inbound.freezeSeconds,
    },
    sent: outbound && {
      kbps: kbps(outbound.bytes, before?.outbound?.bytes, ms),
      limitation: outbound.limitation,
    },
    browserOutgoing: now.pair?.outgoing ?? null,
    browserIncoming: now.pair?.incoming ?? null,
  };
}

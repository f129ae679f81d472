// Why a media connection did not connect, from what the browser itself can see: its
// RTCPeerConnection statistics (W3C webrtc-stats: candidate pairs with their STUN connectivity
// checks, RFC 8445 §7.2, and the local and remote candidates). A network that drops UDP and
// offers no TURN over TCP/TLS looks like this: connectivity checks go out and nothing ever
// answers, and no relayed candidate could be gathered. Pure functions apart from `iceSummary`,
// which only reads getStats().

const LOOPBACK = /^(127\.|::1$|0:0:0:0:0:0:0:1$)/;

/** The few facts the diagnosis needs, from an RTCStatsReport. */
export function summarizeStats(report) {
  const summary = {
    localTypes: [],
    remoteAddresses: [],
    checksSent: 0,
    checksAnswered: 0,
    succeeded: false,
  };
  report.forEach((r) => {
    if (r.type === "local-candidate") summary.localTypes.push(r.candidateType);
    if (r.type === "remote-candidate") {
      summary.remoteAddresses.push(String(r.address ?? r.ip ?? ""));
    }
    if (r.type === "candidate-pair") {
      summary.checksSent += r.requestsSent ?? 0;
      summary.checksAnswered += r.responsesReceived ?? 0;
      if (r.state === "succeeded") summary.succeeded = true;
    }
  });
  return summary;
}

/** getStats() of `pc` summarized, or null when it cannot be read (closed connection). */
export async function iceSummary(pc) {
  if (!pc || pc.signalingState === "closed") return null;
  try {
    return summarizeStats(await pc.getStats());
  } catch {
    return null;
  }
}

/**
 * What kept the connection from connecting:
 * - "connected": checks were answered — the path worked; the trouble is elsewhere (DTLS, a path
 *   lost later, the other side).
 * - "loopback-only": every address the other side offered is loopback while this page is not
 *   (a server that offers media only on 127.0.0.1: its operator's configuration).
 * - "blocked": checks went out (or none could, with only relays allowed) and nothing answered,
 *   and no relay (TURN) candidate was gathered: this network drops the media's UDP and no TURN
 *   over TCP/TLS got through.
 * - "unknown": anything else (no candidates from the other side yet, a relay that answered
 *   nothing, …).
 * `pageHost` is location.hostname; null `summary` (no stats) is "unknown".
 */
export function classifyIceFailure(summary, pageHost = "") {
  if (!summary) return "unknown";
  if (summary.succeeded || summary.checksAnswered > 0) return "connected";
  const remote = summary.remoteAddresses.filter(Boolean);
  const pageOnLoopback = LOOPBACK.test(pageHost) || pageHost === "localhost";
  if (remote.length > 0 && remote.every((a) => LOOPBACK.test(a)) && !pageOnLoopback) {
    return "loopback-only";
  }
  const relayed = summary.localTypes.includes("relay");
  if (!relayed && (summary.checksSent > 0 || summary.localTypes.length === 0)) return "blocked";
  return "unknown";
}

// What a person is told about the page's two connections: the socket.io connection to the server
// (the banner, and what a call or room does when it drops) and the media connection of a call or
// room (RTCPeerConnection's connectionState). Words and pure functions only, no DOM: app.js and
// group.js put these sentences into the store, ui/connection.js shows the banner.

const BANNER = {
  connecting: () => "Connecting to the server…",
  connected: () => "",
  unreachable: () => "The server cannot be reached. Retrying…",
  reconnecting: (c) =>
    c.attempt > 0
      ? `Connection to the server lost — reconnecting (attempt ${c.attempt})…`
      : "Connection to the server lost — reconnecting…",
};

/** The banner's sentence for the socket's status (`{state, attempt}` from signaling.js). */
export function serverText(status) {
  return (BANNER[status.state] ?? BANNER.unreachable)(status);
}

const INTERRUPTED = "The video connection is interrupted — trying to recover…";

/** A 1:1 call: its status once media flows, and its media and server trouble in words. */
export const CALL_TEXT = {
  live: "in-call",
  disconnected: INTERRUPTED,
  failed: "The video connection failed. Press Next to try again.",
  resuming: "Reconnecting to the server…",
  serverLost: "Lost the connection to the server. Press Next once it is back.",
  moving: "The server is restarting — finding you a partner on another one…",
  resumeFailed: "Lost the connection to the server and the call ended. Press Next.",
  partnerMediaFailed: "Your partner's video connection to the server failed, so the call ended.",
};

/** A group room: likewise; ICE restarts are the room's own (group.js). */
export const ROOM_TEXT = {
  live: "in-room",
  disconnected: INTERRUPTED,
  failed: "The video connection failed — trying to recover…",
  restarting: "Reconnecting the video…",
  rejoining: "Lost the connection to the server — rejoining…",
  serverLost: "Lost the connection to the server. Press Join again once it is back.",
  mediaFailed: "The video connection to the server failed, so you left the room. Press Join again.",
  removed: "You are no longer in the room. Press Join again.",
  moving: "The server is restarting — moving the room to another one…",
};

/**
 * The store patch for a media connection state (`text` is CALL_TEXT or ROOM_TEXT): `connected`
 * turns `connecting` into the live status and clears the error, `disconnected` and `failed`
 * say so; other states change nothing (null).
 */
export function mediaStatePatch(text, state, status) {
  if (state === "connected") {
    return { status: status === "connecting" ? text.live : status, error: "" };
  }
  if (state === "disconnected" || state === "failed") return { error: text[state] };
  return null;
}

/**
 * Media that never connected, explained from the browser's own ICE statistics
 * (ice-diagnosis.js `classifyIceFailure`): a network that blocks calls, a server that offers
 * only loopback, or neither (null: keep the generic sentence).
 */
export const ICE_FAILURE_TEXT = {
  blocked: ({ turnOffered }) =>
    "Your network seems to block video calls: your browser's media connection got no answer" +
    (turnOffered
      ? ", and the site's relay (TURN) server could not be reached either. "
      : ", and this site offers no relay (TURN) server to get around it. ") +
    "Try another network, such as mobile data. The site's operator can fix this by offering " +
    `${turnOffered ? "its" : "a"} TURN server over TCP or TLS on port 443, which most ` +
    "firewalls let through.",
  "loopback-only": () =>
    "The server offers its video only on a local address (loopback) that your browser cannot " +
    "reach. The site's operator needs to set the server's public address (--media-addresses).",
};

/**
 * The sentence for a failed or never-connected call, by diagnosis; null when none fits.
 * `turnOffered`: the node gave this browser a TURN server (match-done iceServers).
 */
export function iceFailureText(diagnosis, { turnOffered = false } = {}) {
  return ICE_FAILURE_TEXT[diagnosis]?.({ turnOffered }) ?? null;
}

/** Who may see whose address in a 1:1 call (`iceTransportPolicy` from the node). */
export function privacyText(mode, iceTransportPolicy) {
  if (mode !== "p2p") return "";
  return iceTransportPolicy === "relay"
    ? "Relayed connection: your partner cannot see your IP address."
    : "Direct connection: your partner's browser can see your IP address.";
}

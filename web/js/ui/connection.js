// The banner that says whether the server can be reached (socket.io connect / reconnect events).
import { byId, setText } from "./dom.js";

const TEXT = {
  connecting: () => "Connecting to the server…",
  connected: () => "",
  unreachable: () => "The server cannot be reached. Retrying…",
  reconnecting: (c) =>
    c.attempt > 0
      ? `Connection to the server lost — reconnecting (attempt ${c.attempt})…`
      : "Connection to the server lost — reconnecting…",
};

export function mountConnectionBanner(store) {
  const banner = byId("connection-banner");
  let everConnected = false;
  store.subscribe((state) => {
    const c = state.connection;
    if (c.state === "connected") everConnected = true;
    // Before the first connect, "connecting" is normal and not worth a banner.
    const quiet = c.state === "connected" || (c.state === "connecting" && !everConnected);
    banner.hidden = quiet;
    banner.dataset.state = c.state;
    setText(banner, quiet ? "" : (TEXT[c.state] ?? TEXT.unreachable)(c));
  });
}

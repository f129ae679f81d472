// The banner that says whether the server can be reached (socket.io connect / reconnect events).
import { serverText } from "../connection-text.js";
import { byId, setText } from "./dom.js";

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
    setText(banner, quiet ? "" : serverText(c));
  });
}

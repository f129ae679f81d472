// Boot: build the store, the socket.io connection, the router and the views, and expose a
// read-only debug hook (window.liveloop) that tests use next to real getStats() numbers.
import { App } from "./app.js";
import { Router } from "./router.js";
import { Signaling } from "./signaling.js";
import { createStore, initialState } from "./store.js";
import { mountCallView } from "./ui/call-view.js";
import { mountChat } from "./ui/chat.js";
import { mountConnectionBanner } from "./ui/connection.js";
import { byId } from "./ui/dom.js";
import { mountHome } from "./ui/home.js";
import { mountStudio } from "./ui/studio.js";

// ?mode=sfu|p2p asks the node for a mode (honoured only where the operator's --mode allows it).
function preferredMode() {
  const mode = new URLSearchParams(window.location.search).get("mode");
  return mode === "sfu" || mode === "p2p" ? mode : undefined;
}

/** A JSON-safe copy of the state (no MediaStreams), so the hook cannot change the page. */
function snapshotState(state) {
  const { remoteStream, ...call } = state.call;
  return structuredClone({ ...state, call: { ...call, hasRemoteStream: Boolean(remoteStream) } });
}

function main() {
  const store = createStore(initialState());
  const signaling = new Signaling();
  const router = new Router(
    new Map([
      ["/", byId("page-home")],
      ["/studio", byId("page-studio")],
      ["/call", byId("page-call")],
    ]),
  );
  const app = new App({ store, signaling, router, preferredMode: preferredMode() });

  mountConnectionBanner(store);
  mountHome({ router });
  mountStudio({ store, app });
  mountCallView({ store, app });
  mountChat({ store, app });

  Object.defineProperty(window, "liveloop", {
    value: Object.freeze({
      get state() {
        return snapshotState(store.get());
      },
      get pc() {
        return app.session?.pc ?? null;
      },
      get participants() {
        return [...(app.session?.participants.keys() ?? [])];
      },
      get socket() {
        return signaling.socket;
      },
    }),
  });
  router.start();
}

main();

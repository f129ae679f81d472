// Boot: build the store, the socket.io connection, the router and the views, and expose a
// debug hook (window.liveloop: read-only state, plus the client's own media recovery) that tests
// use next to real getStats() numbers.
import { App } from "./app.js";
import { GroupRoom } from "./group.js";
import { LocalMedia } from "./local-media.js";
import { roomTarget } from "./room-links.js";
import { Router } from "./router.js";
import { Signaling } from "./signaling.js";
import { createStore, initialState } from "./store.js";
import { mountCallStats } from "./ui/call-stats.js";
import { mountCallView } from "./ui/call-view.js";
import { mountChat } from "./ui/chat.js";
import { mountConnectionBanner } from "./ui/connection.js";
import { byId } from "./ui/dom.js";
import { mountHome } from "./ui/home.js";
import { mountRecordingBanner } from "./ui/recording.js";
import { mountRoomView } from "./ui/room-view.js";
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
      ["/room", byId("page-room")],
    ]),
  );
  const localMedia = new LocalMedia({ store });
  const app = new App({ store, signaling, router, localMedia, preferredMode: preferredMode() });
  const target = roomTarget(window.location);
  const group = new GroupRoom({ store, signaling, router, localMedia, target });

  mountConnectionBanner(store);
  mountRecordingBanner(store);
  mountHome({ store, router, group });
  mountStudio({ store, localMedia, app, group });
  mountCallView({ store, localMedia, app });
  mountCallStats({ store, app });
  mountRoomView({ store, localMedia, group });
  mountChat({ store, app });
  // One chat, shown in the 1:1 call page or the room page.
  router.addEventListener("route", (e) => {
    const page = byId(e.detail.path === "/room" ? "page-room" : "page-call");
    const chat = byId("chat");
    if (chat.parentElement !== page) page.append(chat);
  });

  Object.defineProperty(window, "liveloop", {
    value: Object.freeze({
      get state() {
        return snapshotState(store.get());
      },
      get pc() {
        return app.session?.pc ?? group.session?.pc ?? null;
      },
      get participants() {
        return [...((app.session ?? group.session)?.participants.keys() ?? [])];
      },
      get socket() {
        return signaling.socket;
      },
      // What the client does itself when ICE fails: tests call it because a page cannot be
      // moved to another network (tests/browser/test_group_restart.py says what is simulated).
      recoverMedia() {
        if (group.session) group.recoverMedia();
        else app.session?.recoverMedia();
      },
    }),
  });
  // A room link opens the Studio (camera check, name) with a "Join the room" button.
  if (target && router.path === "/") window.history.replaceState(null, "", "#/studio");
  router.start();
}

main();

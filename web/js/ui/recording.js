// The "Recording" banner: plain and always visible in the top bar while the call or room the
// person is in is being recorded (`recording` events, match-done and join-room acks).
import { byId, renderOnChange } from "./dom.js";

const LIVE_CALL = new Set(["connecting", "in-call"]);
const LIVE_ROOM = new Set(["joining", "connecting", "in-room"]);

function recorded(state) {
  if (state.route === "/call") return state.call.recording && LIVE_CALL.has(state.call.status);
  if (state.route === "/room") return state.room.recording && LIVE_ROOM.has(state.room.status);
  return false;
}

export function mountRecordingBanner(store) {
  const banner = byId("recording-banner");
  renderOnChange(store, recorded, (on) => {
    banner.hidden = !on;
  });
}

// The microphone and camera switches of the Studio, the call and the room: a click toggles
// LocalMedia; the label and aria-pressed (pressed = off) follow the store's `media` slice.
import { renderOnChange, setText } from "./dom.js";

// [label while on, label while off]
const SHORT = { audio: ["Mute", "Unmute"], video: ["Camera off", "Camera on"] };
export const LONG = {
  audio: ["Mute microphone", "Unmute microphone"],
  video: ["Turn camera off", "Turn camera on"],
};

function show(button, off, [whileOn, whileOff]) {
  button.setAttribute("aria-pressed", String(off));
  setText(button, off ? whileOff : whileOn);
}

export function mountMediaSwitches({ store, localMedia, mic, camera, labels = SHORT }) {
  mic.addEventListener("click", () => localMedia.toggle("audio"));
  camera.addEventListener("click", () => localMedia.toggle("video"));
  renderOnChange(store, (s) => s.media, (media) => {
    show(mic, !media.audioEnabled, labels.audio);
    show(camera, !media.videoEnabled, labels.video);
  });
}

// The page's own media, shared by 1:1 calls and group rooms: the camera + microphone stream (open,
// close, device choice, mute / camera-off switches, snapshot) and a shared screen. It keeps the
// store's `media` and `devices` slices; calls and rooms read `stream` and `wireState`.
import { listDevices, openLocalMedia, openScreen, snapshot, stopStream } from "./media.js";

function readable(err) {
  return err?.readable ?? err?.message ?? String(err);
}

export class LocalMedia extends EventTarget {
  #stream = null;
  #screen = null; // MediaStream while a screen is shared
  #ticket = 0; // the latest open(): an older one's late stream is not wanted any more

  constructor({ store }) {
    super();
    this.store = store;
  }

  /** Camera + microphone, or null while they are not open. */
  get stream() {
    return this.#stream;
  }

  /** The stream, or null after telling the person (Studio) to turn their camera on. */
  requireStream() {
    const error = this.#stream ? "" : "Turn on your camera and microphone first.";
    this.store.update("profile", { error });
    return this.#stream;
  }

  // ----- camera and microphone -----

  async open() {
    const ticket = ++this.#ticket;
    this.store.update("media", { state: "requesting", error: "" });
    const { cameraId, microphoneId } = this.store.get().devices;
    try {
      const stream = await openLocalMedia({ videoDeviceId: cameraId, audioDeviceId: microphoneId });
      if (ticket !== this.#ticket) return stopStream(stream);
      stopStream(this.#stream);
      this.#stream = stream;
      this.#applySwitches();
      await this.#refreshDevices(stream);
      this.store.update("media", { state: "ready", error: "" });
    } catch (err) {
      if (ticket !== this.#ticket) return undefined;
      this.store.update("media", { state: "error", error: readable(err) });
    }
    return undefined;
  }

  close() {
    this.#ticket += 1;
    stopStream(this.#stream);
    this.#stream = null;
    this.store.update("media", { state: "idle", error: "" });
  }

  /** The camera is on on every page but Home (the Studio's preview, the call, the room). */
  followRoute(path) {
    if (path === "/") this.close();
    else if (!this.#stream && this.store.get().media.state !== "requesting") this.open();
  }

  async #refreshDevices(stream) {
    const { cameras, microphones } = await listDevices();
    const settingOf = (kind) => stream.getTracks().find((t) => t.kind === kind)?.getSettings();
    this.store.update("devices", {
      cameras,
      microphones,
      cameraId: settingOf("video")?.deviceId ?? "",
      microphoneId: settingOf("audio")?.deviceId ?? "",
    });
  }

  chooseDevice(kind, deviceId) {
    this.store.update("devices", kind === "video" ? { cameraId: deviceId } : { microphoneId: deviceId });
    return this.open();
  }

  /** Mute / camera off: the track keeps flowing (silence / black), so nothing renegotiates.
   * Dispatches `switched` so that a call can tell its partner. */
  setEnabled(kind, enabled) {
    this.store.update("media", kind === "audio" ? { audioEnabled: enabled } : { videoEnabled: enabled });
    this.#applySwitches();
    this.dispatchEvent(new Event("switched"));
  }

  toggle(kind) {
    const { audioEnabled, videoEnabled } = this.store.get().media;
    this.setEnabled(kind, kind === "audio" ? !audioEnabled : !videoEnabled);
  }

  #applySwitches() {
    const { audioEnabled, videoEnabled } = this.store.get().media;
    for (const track of this.#stream?.getTracks() ?? []) {
      track.enabled = track.kind === "audio" ? audioEnabled : videoEnabled;
    }
  }

  takeSnapshot(video) {
    try {
      this.store.update("profile", { userImage: snapshot(video), error: "" });
    } catch (err) {
      this.store.update("profile", { error: readable(err) });
    }
  }

  // ----- a shared screen -----

  /** The shared screen's stream, or null. */
  get screen() {
    return this.#screen;
  }

  /** Asks for a screen and keeps it; resolves with its video track (null if it has none).
   * Throws a MediaAccessError in plain words. The browser's own "Stop sharing" button ends the
   * track: `screen-ended` is dispatched then. */
  async openScreen() {
    const stream = await openScreen();
    const [track] = stream.getVideoTracks();
    if (!track) {
      stopStream(stream);
      return null;
    }
    this.closeScreen();
    this.#screen = stream;
    track.addEventListener("ended", () => {
      if (this.#screen === stream) this.dispatchEvent(new Event("screen-ended"));
    });
    return track;
  }

  closeScreen() {
    const screen = this.#screen;
    this.#screen = null;
    stopStream(screen);
  }

  /** The `media-state` payload (docs/protocol.md): microphone, camera and shared screen. */
  get wireState() {
    const { audioEnabled, videoEnabled } = this.store.get().media;
    const screenTrackId = this.#screen?.getVideoTracks()[0]?.id ?? null;
    return { audio: audioEnabled, video: videoEnabled, screenTrackId };
  }
}

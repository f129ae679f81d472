// Studio: device pickers with a live preview, name, optional snapshot, mic/camera switches.
// Opened from a room link (/room/<id>), its button joins that room instead of the random queue.
import { USER_NAME_MAX, validateUserName } from "../limits.js";
import { byId, renderOnChange, setText, showStream } from "./dom.js";
import { LONG, mountMediaSwitches } from "./media-switches.js";

function fillSelect(select, devices, selectedId) {
  const wanted = devices.map((d) => `${d.id}\u0000${d.label}`).join("\u0001");
  if (select.dataset.options !== wanted) {
    select.replaceChildren(
      ...devices.map((d) => {
        const option = document.createElement("option");
        option.value = d.id;
        option.textContent = d.label;
        return option;
      }),
    );
    select.dataset.options = wanted;
  }
  if (selectedId && select.value !== selectedId) select.value = selectedId;
  select.disabled = devices.length === 0;
}

export function mountStudio({ store, localMedia, app, group }) {
  const el = {
    preview: byId("preview-video"),
    camera: byId("camera-select"),
    microphone: byId("mic-select"),
    name: byId("name-input"),
    nameError: byId("name-error"),
    snapshotImg: byId("snapshot-img"),
    snapshotBtn: byId("btn-snapshot"),
    clearSnapshot: byId("btn-clear-snapshot"),
    mic: byId("studio-mic"),
    cam: byId("studio-cam"),
    mediaError: byId("media-error"),
    retry: byId("btn-retry-media"),
    formError: byId("studio-error"),
    form: byId("studio-form"),
    find: byId("btn-find"),
    room: byId("studio-room"),
  };
  el.name.maxLength = USER_NAME_MAX;
  if (group.hasTarget) {
    setText(el.find, "Join the room");
    setText(byId("name-hint"), "1–32 characters. The others in the room see it.");
    setText(el.room, `You are joining the group room “${store.get().room.roomId}”.`);
    el.room.hidden = false;
  }

  el.camera.addEventListener("change", () => localMedia.chooseDevice("video", el.camera.value));
  el.microphone.addEventListener("change", () =>
    localMedia.chooseDevice("audio", el.microphone.value),
  );
  mountMediaSwitches({ store, localMedia, mic: el.mic, camera: el.cam, labels: LONG });
  el.retry.addEventListener("click", () => localMedia.open());
  el.snapshotBtn.addEventListener("click", () => localMedia.takeSnapshot(el.preview));
  el.clearSnapshot.addEventListener("click", () => store.update("profile", { userImage: "" }));
  el.name.addEventListener("input", () => {
    store.update("profile", { userName: el.name.value.trim() });
    if (el.nameError.textContent) setText(el.nameError, validateUserName(el.name.value));
  });
  el.form.addEventListener("submit", (event) => {
    event.preventDefault();
    const problem = validateUserName(el.name.value);
    setText(el.nameError, problem);
    el.name.setAttribute("aria-invalid", problem ? "true" : "false");
    if (problem) {
      el.name.focus();
      return;
    }
    store.update("profile", { userName: el.name.value.trim() });
    if (group.hasTarget) group.join();
    else app.findPartner();
  });

  renderOnChange(store, (s) => s.media, (media) => {
    const ready = media.state === "ready";
    showStream(el.preview, ready ? localMedia.stream : null);
    setText(el.mediaError, media.error);
    el.retry.hidden = media.state !== "error";
    el.find.disabled = !ready;
    el.snapshotBtn.disabled = !ready || !media.videoEnabled;
  });
  renderOnChange(store, (s) => s.devices, (d) => {
    fillSelect(el.camera, d.cameras, d.cameraId);
    fillSelect(el.microphone, d.microphones, d.microphoneId);
  });
  renderOnChange(store, (s) => s.profile, (profile) => {
    el.snapshotImg.hidden = !profile.userImage;
    if (profile.userImage) el.snapshotImg.src = profile.userImage;
    else el.snapshotImg.removeAttribute("src");
    el.clearSnapshot.hidden = !profile.userImage;
    setText(el.formError, profile.error ?? "");
  });
}

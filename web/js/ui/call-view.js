// Call: partner's and own video, partner's name and picture with mic/camera-off indicators,
// status line, and the call menu (Next, Skip, Report, Stop, mute, camera off).
import { privacyText } from "../connection-text.js";
import { isSafeImageUrl } from "../limits.js";
import { byId, renderOnChange, setText, showStream } from "./dom.js";
import { mountMediaSwitches } from "./media-switches.js";

// partner-left reasons (docs/protocol.md) that are not simply "the partner went away".
const LEFT = {
  "media-failed": "A video connection to the server failed and the call ended.",
  shutdown: "The server is restarting, so the call ended.",
  removed: "The service's operator ended the call.",
};

function statusText(call) {
  const name = call.peer?.userName ?? "your partner";
  switch (call.status) {
    case "requesting":
      return "Joining the queue…";
    case "waiting":
      return "Waiting for a partner…";
    case "connecting":
      return `Connecting to ${name}…`;
    case "in-call":
      return `In call with ${name}`;
    case "partner-left":
      return `${LEFT[call.leftReason] ?? `${name} left the call.`} Press Next to meet someone new.`;
    case "ended":
      return "The call has ended.";
    default:
      return "";
  }
}

/** Over the empty remote video. A failed media connection may be this browser's own. */
function placeholderText(call) {
  if (call.status !== "partner-left") return statusText(call);
  return call.leftReason === "media-failed" ? "Call ended" : "Partner left";
}

export function mountCallView({ store, localMedia, app }) {
  const el = {
    remote: byId("remote-video"),
    local: byId("local-video"),
    status: byId("call-status"),
    peerName: byId("peer-name"),
    peerImage: byId("peer-image"),
    peerMedia: byId("peer-media"),
    error: byId("call-error"),
    notice: byId("call-notice"),
    privacy: byId("call-privacy"),
    next: byId("btn-next"),
    stop: byId("btn-stop"),
    mute: byId("btn-mute"),
    camera: byId("btn-camera"),
    unmuteRemote: byId("btn-unmute-remote"),
    waiting: byId("remote-placeholder"),
    skip: byId("btn-skip"),
    report: byId("btn-report"),
    reportDialog: byId("report-dialog"),
    reportForm: byId("report-form"),
    reportReason: byId("report-reason"),
    reportText: byId("report-text"),
    reportCancel: byId("report-cancel"),
  };

  el.skip.addEventListener("click", () => app.skip());
  el.report.addEventListener("click", () => {
    el.reportForm.reset();
    el.reportDialog.showModal();
  });
  el.reportCancel.addEventListener("click", () => el.reportDialog.close());
  el.reportForm.addEventListener("submit", (event) => {
    event.preventDefault();
    el.reportDialog.close();
    app.report(el.reportReason.value, el.reportText.value);
  });

  el.next.addEventListener("click", () => app.next());
  el.stop.addEventListener("click", () => app.stop());
  el.unmuteRemote.addEventListener("click", () => {
    el.remote.muted = false;
    el.unmuteRemote.hidden = true;
  });

  renderOnChange(store, (s) => s.call, (call) => {
    setText(el.status, statusText(call));
    el.status.dataset.state = call.status;
    setText(el.peerName, call.peer?.userName ?? "");
    const image = call.peer?.userImage;
    el.peerImage.hidden = !isSafeImageUrl(image);
    if (isSafeImageUrl(image)) el.peerImage.src = image;
    else el.peerImage.removeAttribute("src");
    const off = [call.peer?.audio === false && "Mic off", call.peer?.video === false && "Camera off"];
    setText(el.peerMedia, off.filter(Boolean).join(" · "));
    setText(el.error, call.error ?? "");
    setText(el.notice, call.notice ?? "");
    const live = ["connecting", "in-call"].includes(call.status);
    setText(el.privacy, live ? privacyText(call.mode, call.iceTransportPolicy) : "");
    const direct = live && call.mode === "p2p" && call.iceTransportPolicy !== "relay";
    el.privacy.dataset.direct = String(direct);
    showStream(el.remote, call.remoteStream, {
      onMutedFallback: () => {
        // A play() refused after the stream went (the partner left meanwhile) needs no button.
        el.unmuteRemote.hidden = !el.remote.srcObject;
      },
    });
    // "Click to hear" only while there is a partner to hear (the <video> stays muted after an
    // autoplay refusal, so a later partner needs it again).
    if (!call.remoteStream) el.unmuteRemote.hidden = true;
    else if (el.remote.muted) el.unmuteRemote.hidden = false;
    el.waiting.hidden = Boolean(call.remoteStream);
    setText(el.waiting, placeholderText(call));
    if (call.status === "partner-left") el.next.focus();
    // Skip and Report concern the partner of this call or the one who just left.
    const hasPartner = ["connecting", "in-call", "partner-left"].includes(call.status);
    el.skip.disabled = !hasPartner;
    el.report.disabled = !hasPartner;
  });

  renderOnChange(store, (s) => s.media, (media) => {
    showStream(el.local, media.state === "ready" ? localMedia.stream : null);
  });
  mountMediaSwitches({ store, localMedia, mic: el.mute, camera: el.camera });
}

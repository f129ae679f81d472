// The browser's capture APIs, stateless: opening camera + microphone or a screen, listing devices,
// snapshots, and their errors in plain words. local-media.js holds the page's streams.
import { USER_IMAGE_MAX_BYTES } from "./limits.js";

export const VIDEO_DEFAULTS = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } };

export class MediaAccessError extends Error {
  constructor(readable, cause) {
    super(readable);
    this.name = "MediaAccessError";
    this.readable = readable;
    this.cause = cause;
  }
}

/** getUserMedia's DOMException names, in words a person can act on. */
export function describeMediaError(err) {
  switch (err?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return (
        "Camera and microphone access was denied. Allow access for this site in your " +
        "browser's settings, then press “Try again”."
      );
    case "NotFoundError":
    case "OverconstrainedError":
      return "No camera or microphone was found. Connect one, then press “Try again”.";
    case "NotReadableError":
    case "AbortError":
      return (
        "Your camera or microphone is busy or could not be started. Close other apps " +
        "that use it, then press “Try again”."
      );
    case "TypeError":
      return "This page must be opened over https (or on localhost) to use the camera.";
    default:
      return `The camera could not be opened (${err?.name ?? "unknown error"}).`;
  }
}

function constraints({ audioDeviceId, videoDeviceId }) {
  return {
    audio: audioDeviceId ? { deviceId: { exact: audioDeviceId } } : true,
    video: videoDeviceId ? { ...VIDEO_DEFAULTS, deviceId: { exact: videoDeviceId } } : VIDEO_DEFAULTS,
  };
}

/** Open camera + microphone; falls back to whichever one exists when the other is missing. */
export async function openLocalMedia(choice = {}) {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new MediaAccessError(describeMediaError({ name: "TypeError" }));
  }
  const wanted = constraints(choice);
  try {
    return await navigator.mediaDevices.getUserMedia(wanted);
  } catch (err) {
    if (err?.name !== "NotFoundError") throw new MediaAccessError(describeMediaError(err), err);
    for (const single of [{ audio: wanted.audio }, { video: wanted.video }]) {
      try {
        return await navigator.mediaDevices.getUserMedia(single);
      } catch {
        // try the next kind; the original error is the one worth showing
      }
    }
    throw new MediaAccessError(describeMediaError(err), err);
  }
}

/** Ask the person for a screen (video only); errors come as MediaAccessError in plain words. */
export async function openScreen() {
  if (!navigator.mediaDevices?.getDisplayMedia) {
    throw new MediaAccessError("This browser cannot share a screen.");
  }
  try {
    return await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
  } catch (err) {
    const cancelled = err?.name === "NotAllowedError" || err?.name === "AbortError";
    const readable = cancelled
      ? "Screen sharing was cancelled."
      : `Screen sharing failed (${err?.name}).`;
    throw new MediaAccessError(readable, err);
  }
}

export function stopStream(stream) {
  for (const track of stream?.getTracks() ?? []) track.stop();
}

/** Device pickers' contents. Labels are only known once access was granted. */
export async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  const pick = (kind, fallback) =>
    devices
      .filter((d) => d.kind === kind && d.deviceId)
      .map((d, i) => ({ id: d.deviceId, label: d.label || `${fallback} ${i + 1}` }));
  return { cameras: pick("videoinput", "Camera"), microphones: pick("audioinput", "Microphone") };
}

/**
 * A small JPEG of the current video frame as a data URL, at most `maxBytes` long (the contract's
 * userImage limit). Shrinks quality, then size, until it fits.
 */
export function snapshot(video, maxBytes = USER_IMAGE_MAX_BYTES) {
  if (!video.videoWidth) throw new MediaAccessError("The camera has no picture yet.");
  const canvas = document.createElement("canvas");
  for (let width = 160; width >= 40; width = Math.round(width / 2)) {
    canvas.width = width;
    canvas.height = Math.round((width * video.videoHeight) / video.videoWidth);
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    for (const quality of [0.8, 0.6, 0.4]) {
      const url = canvas.toDataURL("image/jpeg", quality);
      if (url.length <= maxBytes) return url;
    }
  }
  throw new MediaAccessError("The snapshot is too large to send.");
}

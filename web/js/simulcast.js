// Simulcast for a group room's camera (docs/architecture.md, "Simulcast layers"): the browser
// sends up to three encodings of the camera, each named by its rid (RFC 8851), and the node
// forwards each member the one that fits its downlink. 1:1 calls and screen shares send one
// encoding. Chromium sends three layers from 960x540 up and two from 480x270 (below that, one),
// so the ladder follows the camera's height: each layer half the size of the next, the rids
// listed from the smallest to the largest.
import { VIDEO_DEFAULTS } from "./media.js";

const LAYERS = [
  { rid: "q", scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: "h", scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: "f", scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
];

/** The `sendEncodings` for a camera track of this height, or null for one encoding. */
export function cameraEncodings(height) {
  const count = height >= 540 ? 3 : height >= 270 ? 2 : 1;
  if (count < 2) return null;
  return LAYERS.slice(LAYERS.length - count).map((layer) => ({ ...layer }));
}

// A group room asks the camera for 960x540 (ideal: a smaller camera gives what it has), the
// size from which Chromium sends three layers; the 1:1 default (640x480) gives two. Leaving the
// room gives the camera its 1:1 size back, so a 1:1 call costs what it did.
const GROUP_CAMERA = { ...VIDEO_DEFAULTS, width: { ideal: 960 }, height: { ideal: 540 } };

/** Sizes the camera of `stream` for a group room (`inRoom`) or for 1:1 calls. */
export async function sizeCamera(stream, inRoom) {
  const track = stream?.getVideoTracks()[0];
  if (!track || track.readyState !== "live") return;
  try {
    await track.applyConstraints(inRoom ? GROUP_CAMERA : VIDEO_DEFAULTS);
  } catch (err) {
    console.warn("camera size", err); // the camera keeps the size it has
  }
}

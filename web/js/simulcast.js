// Simulcast for a group room's camera (docs/architecture.md, "Simulcast layers"): the browser
// sends up to three encodings of the camera, each named by its rid (RFC 8851), and the node
// forwards each member the one that fits its downlink. 1:1 calls and screen shares send one
// encoding. Chromium sends three layers from 960x540 up and two from 480x270 (below that, one),
// so the ladder follows the camera's height: each layer half the size of the next, the rids
// listed from the smallest to the largest.

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

// Adaptive stream (docs/protocol.md `set-video-quality`): the node forwards each remote video no
// larger than its tile shows it, and nothing to a hidden page. Every watched <video> reports its
// rendered height (ResizeObserver, in device pixels); a hidden page (`visibilitychange`) or a
// tile that was shown and is laid out no more asks `off` for its videos (a tile not laid out
// yet asks nothing: the node's default is "as large as the downlink allows", and an early `off`
// would only delay its first picture). Requests are deduplicated (heights are rounded up
// to a step, so a tile resized by a few pixels sends nothing) and throttled per video: at most
// one every MIN_SPACING_MS, the latest value winning.

const STEP_PX = 90;
const MIN_SPACING_MS = 500;
const RETRY_MS = 2000; // a refused request (e.g. a track the node just stopped sending) again

/** The wire value for a tile `cssHeight` pixels high on this page: "off" or a height. */
export function wantedHeight(cssHeight, { hidden, pixelRatio }) {
  if (hidden || !(cssHeight > 0)) return "off";
  return Math.min(4320, Math.ceil((cssHeight * pixelRatio) / STEP_PX) * STEP_PX);
}

export class VideoQuality {
  #send;
  #doc;
  #tiles = new Map(); // <video> → {key, participantId, trackId, cssHeight}
  #sent = new Map(); // key → the value the node has ("off" | height)
  #lastAt = new Map(); // key → when it was last sent (ms)
  #timers = new Map(); // key → a throttled send waiting
  #observer;

  /** `send(payload)`: the `set-video-quality` request (returns its ack's promise). */
  constructor({ send, doc = document }) {
    this.#send = send;
    this.#doc = doc;
    this.#observer = new ResizeObserver((entries) => {
      for (const entry of entries) this.#resized(entry.target, entry.contentRect.height);
    });
    doc.addEventListener("visibilitychange", () => {
      for (const key of this.#keys()) this.#schedule(key);
    });
  }

  /** Follow `video`, which shows `remote` ({participantId, trackId}; null: nothing remote). */
  watch(video, remote) {
    const before = this.#tiles.get(video);
    const key = remote ? `${remote.participantId}\n${remote.trackId}` : null;
    if (before?.key === key) return;
    if (before) this.unwatch(video);
    if (!remote) return;
    const { participantId, trackId } = remote;
    const cssHeight = video.clientHeight;
    this.#tiles.set(video, { key, participantId, trackId, cssHeight, shown: cssHeight > 0 });
    this.#observer.observe(video);
    this.#schedule(key);
  }

  unwatch(video) {
    const tile = this.#tiles.get(video);
    if (!tile) return;
    this.#tiles.delete(video);
    this.#observer.unobserve(video);
  }

  /** A new connection to the node: it knows nothing of what was asked before. */
  reset() {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    this.#sent.clear();
    this.#lastAt.clear();
    for (const tile of this.#tiles.values()) this.#schedule(tile.key);
  }

  #keys() {
    return new Set([...this.#tiles.values()].map((tile) => tile.key));
  }

  #resized(video, cssHeight) {
    const tile = this.#tiles.get(video);
    if (!tile) return;
    tile.cssHeight = cssHeight;
    tile.shown ||= cssHeight > 0;
    this.#schedule(tile.key);
  }

  /** What the video of `key` should get: the tallest of its tiles (usually one). */
  #wanted(key) {
    const hidden = this.#doc.visibilityState === "hidden";
    const pixelRatio = window.devicePixelRatio || 1;
    let best = "off";
    const tiles = [...this.#tiles.values()].filter((tile) => tile.key === key);
    if (!hidden && !tiles.some((tile) => tile.shown)) return null; // nothing to ask yet
    for (const tile of tiles) {
      const value = wantedHeight(tile.cssHeight, { hidden, pixelRatio });
      if (value !== "off" && (best === "off" || value > best)) best = value;
    }
    return best;
  }

  #schedule(key) {
    if (this.#timers.has(key)) return; // a send is due: it reads the latest value then
    const wait = (this.#lastAt.get(key) ?? -Infinity) + MIN_SPACING_MS - performance.now();
    if (wait <= 0) {
      this.#flush(key);
      return;
    }
    this.#timers.set(
      key,
      setTimeout(() => {
        this.#timers.delete(key);
        this.#flush(key);
      }, wait),
    );
  }

  #flush(key) {
    const tile = [...this.#tiles.values()].find((t) => t.key === key);
    if (!tile) return;
    const value = this.#wanted(key);
    if (value === null || this.#sent.get(key) === value) return;
    this.#sent.set(key, value);
    this.#lastAt.set(key, performance.now());
    const payload = { participantId: tile.participantId, trackId: tile.trackId };
    if (value === "off") payload.off = true;
    else payload.maxHeight = value;
    this.#send(payload).catch((err) => {
      console.warn("set-video-quality", err);
      if (this.#sent.get(key) !== value) return;
      this.#sent.delete(key);
      setTimeout(() => this.#schedule(key), RETRY_MS);
    });
  }
}

// Tiny DOM helpers shared by the views. Text from other people only ever goes through textContent.

export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing element #${id}`);
  return el;
}

export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/** Attach a stream to a <video>; autoplay with sound can be refused, so fall back to muted. */
export function showStream(video, stream, { onMutedFallback } = {}) {
  if (video.srcObject === stream) return;
  video.srcObject = stream ?? null;
  if (!stream) return;
  video.play().catch(() => {
    if (video.muted) return;
    video.muted = true;
    video.play().catch(() => {});
    onMutedFallback?.();
  });
}

/** Re-runs `render(slice)` only when the selected slice changed (store updates are immutable). */
export function renderOnChange(store, select, render) {
  let last;
  const run = (state) => {
    const slice = select(state);
    if (slice === last) return;
    last = slice;
    render(slice, state);
  };
  store.subscribe(run);
  run(store.get());
}

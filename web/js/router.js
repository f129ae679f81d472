// Hash routes (#/, #/studio, #/call): one <section data-route> visible at a time.

export class Router extends EventTarget {
  constructor(routes) {
    super();
    this.routes = routes; // path → section element
    window.addEventListener("hashchange", () => this.#apply());
  }

  get path() {
    const path = window.location.hash.replace(/^#/, "") || "/";
    return this.routes.has(path) ? path : "/";
  }

  go(path) {
    if (window.location.hash === `#${path}`) this.#apply();
    else window.location.hash = `#${path}`;
  }

  start() {
    this.#apply();
  }

  #apply() {
    const path = this.path;
    for (const [route, section] of this.routes) section.hidden = route !== path;
    this.dispatchEvent(new CustomEvent("route", { detail: { path } }));
    // Move focus to the new page's heading so screen readers announce the change.
    this.routes.get(path)?.querySelector("h1, h2")?.focus({ preventScroll: true });
  }
}

// Home: what the service is, a Start button into the Studio, and creating a group room whose
// link can be copied and shared.
import { copyLink } from "../room-links.js";
import { byId, renderOnChange, setText } from "./dom.js";

export function mountHome({ store, router, group }) {
  const el = {
    start: byId("btn-start"),
    create: byId("btn-create-room"),
    error: byId("create-room-error"),
    created: byId("room-created"),
    link: byId("room-link"),
    copy: byId("btn-copy-room-link"),
    open: byId("room-open"),
    copied: byId("room-link-copied"),
  };
  el.start.addEventListener("click", () => router.go("/studio"));
  el.create.addEventListener("click", () => group.createRoom());
  el.copy.addEventListener("click", async () =>
    setText(el.copied, await copyLink(store.get().home.link)),
  );
  el.link.addEventListener("focus", () => el.link.select());

  renderOnChange(store, (s) => s.home, (home) => {
    el.create.disabled = home.creating;
    setText(el.create, home.creating ? "Creating…" : "Create a group room");
    setText(el.error, home.error);
    el.created.hidden = !home.link;
    el.link.value = home.link;
    if (home.link) el.open.href = home.link;
    else el.open.removeAttribute("href");
    if (!home.link) setText(el.copied, "");
  });
}

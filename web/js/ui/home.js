// Home: what the service is, and a Start button into the Studio.
import { byId } from "./dom.js";

export function mountHome({ router }) {
  byId("btn-start").addEventListener("click", () => router.go("/studio"));
}

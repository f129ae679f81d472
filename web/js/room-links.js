// Group room links (docs/protocol.md "Group rooms"): reading `/room/<roomId>?token=` from the
// page's address, building a shareable link, asking the node for a new room, and copying a link.
// No DOM and no store: callers show the results.

/** The room a page was opened for: `/room/<roomId>?token=...`, or null. */
export function roomTarget(location) {
  const match = /^\/room\/([^/]+)\/?$/.exec(location.pathname);
  if (!match) return null;
  let roomId;
  try {
    roomId = decodeURIComponent(match[1]);
  } catch {
    return null;
  }
  const token = new URLSearchParams(location.search).get("token") ?? "";
  return { roomId, token };
}

export function roomLink(origin, roomId, token) {
  const query = token ? `?token=${encodeURIComponent(token)}` : "";
  return `${origin}/room/${encodeURIComponent(roomId)}${query}`;
}

/** The node's link (maybe relative) as an absolute URL that carries the token, if any. */
function shareableLink({ roomId, link, token }) {
  const base = roomLink(window.location.origin, roomId, "");
  const url = new URL(typeof link === "string" && link ? link : base, window.location.origin);
  if (typeof token === "string" && token && !url.searchParams.has("token")) {
    url.searchParams.set("token", token);
  }
  return url.href;
}

/** `POST /api/rooms`: a new room's shareable link; throws an Error a person can read. */
export async function createRoomLink() {
  const response = await fetch("/api/rooms", {
    method: "POST",
    headers: { Accept: "application/json" },
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok || typeof body.roomId !== "string") {
    const problem = body?.error?.message ?? `the server answered ${response.status}`;
    throw new Error(`Could not create a room: ${problem}`);
  }
  return shareableLink(body);
}

/** Copies `link` to the clipboard; returns the sentence to show ("" when there is no link). */
export async function copyLink(link) {
  if (!link) return "";
  try {
    await navigator.clipboard.writeText(link);
    return "Link copied — send it to the people you want to invite.";
  } catch {
    return `Copy this link: ${link}`;
  }
}

// Group room: a responsive grid of tiles (name, microphone/camera indicators, active speaker),
// shared screens in a large spotlight, and the room menu (mute, camera, share, copy link, leave).
import { copyLink } from "../room-links.js";
import { byId, renderOnChange, setText, showStream } from "./dom.js";
import { mountMediaSwitches } from "./media-switches.js";
import { mountTileStats } from "./tile-stats.js";

function statusText(room) {
  const others = room.participants.length;
  switch (room.status) {
    case "joining":
      return "Joining the room…";
    case "connecting":
      return "Connecting…";
    case "in-room":
      if (others === 0) return "You are the only one here. Share the link to invite people.";
      return others === 1 ? "In the room with 1 other person" : `In the room with ${others} others`;
    case "ended":
      return "Disconnected from the room.";
    case "error":
      return "Could not join the room.";
    default:
      return "";
  }
}

const LIVE = new Set(["joining", "connecting", "in-room"]);

function renderControls(el, { room }, live) {
  setText(el.status, statusText(room));
  el.status.dataset.state = room.status;
  setText(el.title, room.name || "Group room");
  setText(el.notice, room.notice);
  setText(el.error, room.error);
  el.rejoin.hidden = live || !room.roomId;
  el.mute.disabled = room.status === "error";
  el.camera.disabled = room.status === "error";
  el.share.disabled = !live || room.status === "joining";
  el.share.setAttribute("aria-pressed", String(room.sharing));
  setText(el.share, room.sharing ? "Stop sharing" : "Share screen");
  // Leave stays available after an error too: it goes back to the Studio.
}

function selfTile({ room, media, profile }, localMedia, live) {
  return {
    key: "self",
    name: `${profile.userName || "You"} (you)`,
    audio: media.audioEnabled,
    video: media.videoEnabled,
    speaking: room.activeSpeaker !== "" && room.activeSpeaker === room.participantId,
    stream: live && media.state === "ready" ? localMedia.stream : null,
    muted: true,
  };
}

function participantTiles({ room }, group, onMutedFallback) {
  return room.participants.map((p) => ({
    key: p.participantId,
    name: p.userName,
    audio: p.audio,
    video: p.video,
    speaking: room.activeSpeaker === p.participantId,
    stream: group.streamsOf(p.participantId).camera,
    muted: false,
    onMutedFallback,
  }));
}

/** Shared screens (the sharer's own first): video only, so always muted. */
function screenTiles({ room }, group, localMedia, people) {
  const screen = (key, name, stream) => ({
    key: `screen-${key}`,
    name,
    audio: true,
    video: true,
    speaking: false,
    stream,
    muted: true,
  });
  const screens = people
    .map((p) => screen(p.key, `${p.name}'s screen`, group.streamsOf(p.key).screen))
    .filter((s) => s.stream);
  if (room.sharing && localMedia.screen) {
    screens.unshift(screen("self", "Your screen", localMedia.screen));
  }
  return screens;
}

/** One tile: video, a placeholder when the camera is off, and a caption with indicators. */
function createTile(key) {
  const item = document.createElement("li");
  item.className = "tile";
  item.dataset.key = key;
  const video = document.createElement("video");
  video.autoplay = true;
  video.playsInline = true;
  const off = document.createElement("p");
  off.className = "tile-off";
  off.setAttribute("aria-hidden", "true");
  const caption = document.createElement("p");
  caption.className = "tile-caption";
  const name = document.createElement("span");
  name.className = "tile-name";
  const mic = document.createElement("span");
  mic.className = "tile-mic-off";
  mic.textContent = "Mic off";
  const cam = document.createElement("span");
  cam.className = "tile-cam-off";
  cam.textContent = "Camera off";
  caption.append(name, mic, cam);
  item.append(video, off, caption);
  return item;
}

function updateTile(tile, { name, audio, video, speaking, stream, muted, onMutedFallback }) {
  const [videoEl, off, caption] = tile.children;
  setText(caption.querySelector(".tile-name"), name);
  setText(off, name.slice(0, 1).toUpperCase());
  caption.querySelector(".tile-mic-off").hidden = audio;
  caption.querySelector(".tile-cam-off").hidden = video;
  const hasVideo = Boolean(stream?.getVideoTracks().length) && video;
  off.hidden = hasVideo;
  tile.classList.toggle("speaking", speaking);
  tile.setAttribute("aria-label", name);
  videoEl.muted = muted || videoEl.muted;
  showStream(videoEl, stream, { onMutedFallback });
}

/**
 * Keeps `container`'s children equal to `items` (by key), creating and removing tiles. Remote
 * videos are watched (`group.quality`: the node sends each no larger than its tile shows it),
 * and every tile has a stats toggle (tile-stats.js).
 */
function syncTiles(container, items, render, { group }) {
  const existing = new Map([...container.children].map((el) => [el.dataset.key, el]));
  items.forEach((item, index) => {
    let tile = existing.get(item.key);
    existing.delete(item.key);
    if (!tile) {
      tile = createTile(item.key);
      const video = tile.querySelector("video");
      mountTileStats(tile, () => {
        const stream = video.srcObject;
        const track = stream?.getVideoTracks()[0] ?? null;
        const self = item.key === "self" || item.key === "screen-self";
        const remote = self ? null : group.remoteVideoOf(stream);
        const pc = group.session?.pc ?? null;
        return { pc, track, self, layerOf: () => group.videoLayerOf(remote) };
      });
    }
    const here = container.children[index] ?? null;
    if (here !== tile) container.insertBefore(tile, here);
    render(tile, item);
    const video = tile.querySelector("video");
    const own = item.key === "self" || item.key === "screen-self";
    group.quality.watch(video, own ? null : group.remoteVideoOf(item.stream));
  });
  for (const stale of existing.values()) {
    const video = stale.querySelector("video");
    if (video) {
      group.quality.unwatch(video);
      video.srcObject = null;
    }
    stale.stopStats?.();
    stale.remove();
  }
}

export function mountRoomView({ store, localMedia, group }) {
  const el = {
    title: byId("room-title"),
    status: byId("room-status"),
    tiles: byId("room-tiles"),
    spotlight: byId("room-spotlight"),
    notice: byId("room-notice"),
    error: byId("room-error"),
    mute: byId("room-mute"),
    camera: byId("room-camera"),
    share: byId("room-share"),
    copy: byId("room-copy"),
    copied: byId("room-copied"),
    unmute: byId("room-unmute"),
    rejoin: byId("room-rejoin"),
    leave: byId("room-leave"),
  };
  const showUnmute = () => {
    el.unmute.hidden = false;
  };

  mountMediaSwitches({ store, localMedia, mic: el.mute, camera: el.camera });
  el.share.addEventListener("click", () => group.toggleScreen());
  el.leave.addEventListener("click", () => group.leave());
  el.rejoin.addEventListener("click", () => group.join());
  el.copy.addEventListener("click", async () =>
    setText(el.copied, await copyLink(store.get().room.link)),
  );
  el.unmute.addEventListener("click", () => {
    for (const video of document.querySelectorAll("#page-room video:not(.self)")) video.muted = false;
    el.unmute.hidden = true;
  });

  const render = (state) => {
    const live = LIVE.has(state.room.status);
    renderControls(el, state, live);
    const people = live ? participantTiles(state, group, showUnmute) : [];
    const tiles = [selfTile(state, localMedia, live), ...people];
    el.tiles.dataset.count = String(tiles.length);
    syncTiles(el.tiles, tiles, (tile, item) => {
      tile.classList.toggle("self", item.key === "self");
      tile.querySelector("video").classList.toggle("self", item.key === "self");
      updateTile(tile, item);
    }, { group });
    const screens = screenTiles(state, group, localMedia, people);
    el.spotlight.hidden = screens.length === 0;
    el.spotlight.dataset.count = String(screens.length);
    syncTiles(el.spotlight, screens, (tile, item) => {
      tile.classList.add("screen");
      updateTile(tile, item);
    }, { group });
  };
  // Every change while the room is on screen (tiles follow participants, media and speaker).
  renderOnChange(store, (s) => s, (state) => {
    if (state.route === "/room") render(state);
  });
}

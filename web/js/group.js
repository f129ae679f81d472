// Group rooms (docs/protocol.md "Group rooms"): create a room, join it by link, publish camera,
// microphone and optionally a screen to the node, and keep one tile per participant. The media
// connection is the same CallSession as a 1:1 sfu call; this module adds the room's people.
import { CallSession } from "./call.js";
import { ROOM_TEXT, iceFailureText, mediaStatePatch } from "./connection-text.js";
import { classifyIceFailure } from "./ice-diagnosis.js";
import { createRoomLink, roomLink } from "./room-links.js";
import { sizeCamera } from "./simulcast.js";
import { VideoQuality } from "./video-quality.js";

const LIVE = new Set(["joining", "connecting", "in-room"]);
// ICE `disconnected` this long is a dead path, not a blip: restart ICE (docs/protocol.md "Network
// trouble in a group room"). Chromium reports `disconnected` ~2.5 s after the last packet, so a
// restart offer reaches the node ~4.5 s after the path died: before its --media-timeout (6 s).
const DISCONNECTED_RESTART_MS = 2000;
// At most one restart this often: a restart that does not help (its offer refused or lost, ICE
// still down) is retried this much later, at most MAX_RESTARTS times until ICE connects again;
// after that the node's connect deadline decides (`partner-left {reason: "media-failed"}`).
const RESTART_SPACING_MS = 5000;
const MAX_RESTARTS = 4;

// Room errors (wire codes) in words a person can act on.
const ROOM_ERRORS = {
  "room-full": "This room is full: it already has as many people as it can take. Try again later.",
  unauthorized: "This room link is not valid or has expired. Ask for a new link.",
  "not-in-room": "You are not in this room any more.",
};

function readable(err) {
  return ROOM_ERRORS[err?.code] ?? err?.readable ?? err?.message ?? String(err);
}

/** A participant record with only the fields the contract defines, typed. */
function person(raw) {
  return {
    participantId: String(raw?.participantId ?? ""),
    userName: String(raw?.userName ?? "Someone"),
    audio: raw?.audio !== false,
    video: raw?.video !== false,
    screenTrackId: typeof raw?.screenTrackId === "string" ? raw.screenTrackId || null : null,
  };
}

function sameTracks(stream, tracks) {
  const have = stream?.getTracks() ?? [];
  return have.length === tracks.length && tracks.every((t) => have.includes(t));
}

export class GroupRoom {
  #session = null;
  #remoteTracks = []; // from the session: {participantId, trackId, kind, track}
  #streams = new Map(); // participantId → {camera: MediaStream|null, screen: MediaStream|null}
  #screenTransceiver = null; // while sharing (the stream is LocalMedia's)
  // Every track id ever announced as someone's screen: when a share stops, its m-line goes quiet
  // only with the next answer, and until then the track must not land in the camera tile.
  #screenIds = new Set();
  #sentState = "";
  #restartTimer = null;
  #lastRestart = 0;
  #restarts = 0; // since ICE was last connected
  // The socket dropped while in the room: the node let us leave, so join again once it is back.
  #rejoinOnReconnect = false;
  #joinTicket = 0; // the latest join(): an older one's late answer is not ours any more
  #layers = null; // the last get-video-layers: {at, request}

  constructor({ store, signaling, router, localMedia, target }) {
    this.store = store;
    this.signaling = signaling;
    this.router = router;
    this.localMedia = localMedia; // the camera, microphone and screen (LocalMedia)
    // What each remote tile shows, told to the node (`set-video-quality`, video-quality.js).
    this.quality = new VideoQuality({
      send: (payload) => this.signaling.requestInRoom("set-video-quality", payload),
    });
    if (target) {
      const link = roomLink(window.location.origin, target.roomId, target.token);
      store.update("room", { roomId: target.roomId, token: target.token, link });
    }
    this.#listen();
  }

  get session() {
    return this.#session;
  }

  get hasTarget() {
    return Boolean(this.store.get().room.roomId);
  }

  /** Whose video (`{participantId, trackId}`, the owner's msid) `stream` shows, or null. */
  remoteVideoOf(stream) {
    const track = stream?.getVideoTracks()[0];
    const found = track && this.#remoteTracks.find((t) => t.track === track);
    return found ? { participantId: found.participantId, trackId: found.trackId } : null;
  }

  /**
   * The simulcast layer the node forwards of `remote`'s video ("q", "h", "f", "one" for a
   * single encoding, "off"), for the tiles' stats. One `get-video-layers` a second at most,
   * shared by every tile whose stats are open.
   */
  async videoLayerOf(remote) {
    if (!remote) return "—";
    if (!this.#layers || performance.now() - this.#layers.at > 900) {
      const request = this.signaling.requestInRoom("get-video-layers").then(
        (ack) => (Array.isArray(ack?.layers) ? ack.layers : []),
        () => [],
      );
      this.#layers = { at: performance.now(), request };
    }
    const layers = await this.#layers.request;
    const found = layers.find(
      (l) => l?.participantId === remote.participantId && l?.trackId === remote.trackId,
    );
    if (!found) return "—";
    if (found.off) return "off";
    return typeof found.rid === "string" && found.rid ? found.rid : "one";
  }

  /** The camera (with audio) and screen streams shown in a participant's tiles. */
  streamsOf(participantId) {
    return this.#streams.get(participantId) ?? { camera: null, screen: null };
  }

  // ----- creating a room (Home) -----

  async createRoom() {
    this.store.update("home", { creating: true, error: "", link: "", copied: false });
    try {
      this.store.update("home", { creating: false, link: await createRoomLink() });
    } catch (err) {
      this.store.update("home", { creating: false, error: err?.message ?? String(err) });
    }
  }

  // ----- joining and leaving -----

  async join() {
    const stream = this.localMedia.requireStream();
    if (!stream) return;
    const ticket = ++this.#joinTicket;
    this.#reset("joining");
    this.router.go("/room");
    await sizeCamera(stream, true); // before the session reads its height (simulcast.js)
    const { roomId, token } = this.store.get().room;
    const payload = { roomId, userName: this.store.get().profile.userName };
    if (token) payload.token = token;
    let ack;
    try {
      ack = await this.signaling.request("join-room", payload);
    } catch (err) {
      if (ticket === this.#joinTicket && this.store.get().room.status === "joining") {
        this.store.update("room", { status: "error", error: readable(err) });
      }
      return;
    }
    if (ticket !== this.#joinTicket) return; // a rejoin on a new socket replaced this join
    if (this.store.get().room.status !== "joining") {
      this.#sendLeave(); // left (or navigated away) while the join was on its way
      return;
    }
    this.#onJoined(ack, stream);
  }

  #onJoined(ack, stream) {
    const participants = (Array.isArray(ack.participants) ? ack.participants : [])
      .map(person)
      .filter((p) => p.participantId);
    for (const p of participants) if (p.screenTrackId) this.#screenIds.add(p.screenTrackId);
    this.store.update("room", {
      status: "connecting",
      participantId: String(ack.participantId ?? ""),
      name: typeof ack.name === "string" ? ack.name : "",
      participants,
      recording: Boolean(ack.recording),
    });
    this.store.update("chat", { messages: [], error: "" });
    const session = new CallSession({
      signaling: this.signaling,
      localStream: stream,
      iceServers: ack.iceServers,
      mode: "sfu",
      role: "offerer",
      simulcast: true,
    });
    session.addEventListener("connection", (e) => this.#onPeerState(session, e.detail.state));
    session.addEventListener("ice", (e) => this.#onIceState(session, e.detail.state));
    session.addEventListener("remote-media", (e) => this.#onRemoteMedia(session, e.detail.tracks));
    session.addEventListener("error", (e) => {
      if (session === this.#session) this.store.update("room", { error: e.detail.message });
    });
    this.#session = session;
    session.start();
    this.#ensureSlots(); // before the first offer goes out (negotiationneeded is queued)
    this.#sendMediaState(true);
  }

  /** Leave: tell the node, close the connection, back to the Studio (the link stays). */
  async leave({ navigate = true } = {}) {
    this.#rejoinOnReconnect = false;
    const wasLive = LIVE.has(this.store.get().room.status);
    this.#endSession();
    this.#reset("idle");
    sizeCamera(this.localMedia.stream, false);
    if (navigate && this.router.path !== "/studio") this.router.go("/studio");
    if (wasLive) await this.#sendLeave();
  }

  async #sendLeave() {
    await this.signaling.requestInRoom("leave-room").catch((err) => console.warn("leave-room", err));
  }

  #reset(status) {
    this.#remoteTracks = [];
    this.quality.reset();
    this.#streams = new Map();
    this.#screenIds = new Set();
    this.#sentState = "";
    this.store.update("room", {
      status,
      error: "",
      notice: "",
      participantId: "",
      participants: [],
      activeSpeaker: "",
      recording: false,
      sharing: false,
      mediaVersion: this.store.get().room.mediaVersion + 1,
    });
  }

  #endSession() {
    this.#cancelRestart();
    this.#restarts = 0;
    this.#stopScreenTrack();
    this.#session?.close();
    this.#session = null;
  }

  // ----- screen sharing -----

  async toggleScreen() {
    if (this.localMedia.screen) return this.stopScreen();
    const session = this.#session;
    if (!session) {
      this.store.update("room", { notice: "This browser cannot share a screen." });
      return undefined;
    }
    let track;
    try {
      track = await this.localMedia.openScreen();
    } catch (err) {
      this.store.update("room", { notice: err.readable ?? String(err) });
      return undefined;
    }
    if (!track) return undefined;
    if (session !== this.#session) {
      this.localMedia.closeScreen();
      return undefined;
    }
    this.#screenTransceiver = session.addScreen(track);
    this.store.update("room", { sharing: true, notice: "" });
    this.#sendMediaState();
    return undefined;
  }

  async stopScreen() {
    if (!this.localMedia.screen) return;
    const transceiver = this.#screenTransceiver;
    this.#stopScreenTrack();
    this.store.update("room", { sharing: false });
    this.#sendMediaState();
    await this.#session?.removeScreen(transceiver);
  }

  #stopScreenTrack() {
    this.#screenTransceiver = null;
    this.localMedia.closeScreen();
  }

  // ----- media state (mute indicators) -----

  /** `media-state` whenever the microphone, camera or screen changes (once per change). */
  #sendMediaState(force = false) {
    if (!this.#session) return;
    const state = this.localMedia.wireState;
    const key = JSON.stringify(state);
    if (!force && key === this.#sentState) return;
    this.#sentState = key;
    this.signaling.request("media-state", state).catch((err) => console.warn("media-state", err));
  }

  // ----- the others and their media -----

  #ensureSlots() {
    const { participants } = this.store.get().room;
    const screens = participants.filter((p) => p.screenTrackId).length;
    this.#session?.ensureReceiveSlots({
      audio: participants.length,
      video: participants.length + screens,
    });
  }

  #setParticipants(participants) {
    for (const p of participants) if (p.screenTrackId) this.#screenIds.add(p.screenTrackId);
    this.store.update("room", { participants });
    this.#ensureSlots();
    this.#rebuildStreams();
  }

  #onParticipantJoined(raw) {
    if (!this.#session) return;
    const joined = person(raw);
    if (!joined.participantId) return;
    const others = this.store.get().room.participants.filter(
      (p) => p.participantId !== joined.participantId,
    );
    this.#setParticipants([...others, joined]);
  }

  #onParticipantLeft(raw) {
    if (!this.#session) return;
    const id = String(raw?.participantId ?? "");
    const { participants, activeSpeaker } = this.store.get().room;
    if (activeSpeaker === id) this.store.update("room", { activeSpeaker: "" });
    this.#setParticipants(participants.filter((p) => p.participantId !== id));
  }

  #onParticipantUpdated(raw) {
    if (!this.#session) return;
    const update = person(raw);
    const participants = this.store
      .get()
      .room.participants.map((p) =>
        p.participantId === update.participantId ? { ...update, userName: p.userName } : p,
      );
    this.#setParticipants(participants);
  }

  #onRemoteMedia(session, tracks) {
    if (session !== this.#session) return;
    this.#remoteTracks = tracks;
    this.#rebuildStreams();
  }

  /** Sorts every receiving track into its owner's camera or screen stream (by screenTrackId). */
  #rebuildStreams() {
    const { participants, mediaVersion } = this.store.get().room;
    let changed = false;
    const next = new Map();
    for (const p of participants) {
      const mine = this.#remoteTracks.filter((t) => t.participantId === p.participantId);
      const isScreen = (t) => t.kind === "video" && t.trackId === p.screenTrackId;
      const wasScreen = (t) => t.kind === "video" && this.#screenIds.has(t.trackId);
      const camera = mine.filter((t) => !wasScreen(t)).map((t) => t.track);
      const screen = mine.filter(isScreen).map((t) => t.track);
      const before = this.#streams.get(p.participantId);
      const entry = {
        camera: this.#keep(before?.camera, camera),
        screen: this.#keep(before?.screen, screen),
      };
      changed ||= entry.camera !== before?.camera || entry.screen !== before?.screen;
      next.set(p.participantId, entry);
    }
    changed ||= next.size !== this.#streams.size;
    this.#streams = next;
    if (changed) this.store.update("room", { mediaVersion: mediaVersion + 1 });
  }

  /** The same MediaStream while its tracks are the same, so a <video> keeps playing. */
  #keep(stream, tracks) {
    if (tracks.length === 0) return null;
    return stream && sameTracks(stream, tracks) ? stream : new MediaStream(tracks);
  }

  // ----- ICE restart (the network changed under a live socket) -----

  /**
   * Media again after the path to the node died: `pc.restartIce()` and the usual offer, through
   * the same serialized negotiation as the node's `renegotiate` asks (CallSession.makeOffer:
   * one exchange at a time, a request meanwhile becomes one more offer after the answer). The
   * node answers from a new connection of its own and re-links it to the room's forwarders.
   */
  recoverMedia() {
    const session = this.#session;
    if (!session || !this.signaling.connected || this.#restarts >= MAX_RESTARTS) return;
    this.#cancelRestart();
    this.#restarts += 1;
    this.#lastRestart = Date.now();
    this.store.update("room", { notice: ROOM_TEXT.restarting });
    session.recoverMedia();
    this.#scheduleRestart(RESTART_SPACING_MS); // again if this one did not help
  }

  /** `failed`: restart now; `disconnected`: restart if it lasts; back up: nothing to do. */
  #onIceState(session, state) {
    if (session !== this.#session) return;
    if (state === "connected" || state === "completed") {
      this.#cancelRestart();
      this.#restarts = 0;
      if (this.store.get().room.notice === ROOM_TEXT.restarting) {
        this.store.update("room", { notice: "" });
      }
    } else if (state === "failed" || state === "disconnected") {
      const wait = state === "failed" ? 0 : DISCONNECTED_RESTART_MS;
      this.#scheduleRestart(Math.max(wait, this.#lastRestart + RESTART_SPACING_MS - Date.now()));
    }
  }

  #scheduleRestart(delayMs) {
    if (this.#restartTimer !== null) return; // one is already due
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = null;
      if (this.#session?.mediaBroken) this.recoverMedia();
    }, delayMs);
  }

  #cancelRestart() {
    clearTimeout(this.#restartTimer);
    this.#restartTimer = null;
  }

  #onPeerState(session, state) {
    if (session !== this.#session) return;
    const patch = mediaStatePatch(ROOM_TEXT, state, this.store.get().room.status);
    if (patch) this.store.update("room", patch);
  }

  // ----- server events -----

  #listen() {
    const s = this.signaling;
    s.on("negotiation-call-answer", (p) => this.#session?.handleDescription(p?.sdp));
    s.on("send-new-ice-candidates", (p) => this.#session?.handleCandidate(p?.candidate));
    s.on("renegotiate", () => this.#session?.makeOffer());
    // Nobody is given these layers of our camera: stop encoding them (docs/protocol.md).
    s.on("set-video-layers", (p) => this.#session?.setPausedLayers(p));
    s.on("participant-joined", (p) => this.#onParticipantJoined(p));
    s.on("participant-left", (p) => this.#onParticipantLeft(p));
    s.on("participant-updated", (p) => this.#onParticipantUpdated(p));
    s.on("active-speaker", (p) => {
      if (this.#session) this.store.update("room", { activeSpeaker: String(p?.participantId ?? "") });
    });
    // The node gave up on this browser's media connection: it left the room (no p2p fallback).
    // Its own statistics may tell why (a network that blocks calls: ice-diagnosis.js).
    s.on("partner-left", async (p) => {
      const session = this.#session;
      if (!session) return;
      const failed = p?.reason === "media-failed";
      const summary = failed ? await session.iceSummary() : null;
      if (session !== this.#session) return;
      this.#endSession();
      this.#reset("ended");
      if (p?.reason === "shutdown") {
        // The node ended its rooms (drain over): join again once the socket reached another
        // node, where the room opens anew.
        this.#rejoinOnReconnect = true;
        this.store.update("room", { notice: ROOM_TEXT.moving });
        return;
      }
      const why = failed
        ? iceFailureText(classifyIceFailure(summary, location.hostname), {
            turnOffered: session.turnOffered,
          })
        : null;
      const said = failed ? [ROOM_TEXT.mediaFailed, why] : [ROOM_TEXT.removed];
      this.store.update("room", { error: said.filter(Boolean).join(" ") });
    });
    s.on("recording", (r) => {
      if (this.#session) this.store.update("room", { recording: Boolean(r?.active) });
    });
    s.addEventListener("status", (e) => this.#onSignalingStatus(e.detail));
    this.router.addEventListener("route", (e) => this.#onRoute(e.detail.path));
    this.store.subscribe((state) => {
      if (this.#session && state.media) this.#sendMediaState();
    });
    this.localMedia.addEventListener("screen-ended", () => this.stopScreen());
  }

  #onSignalingStatus(status) {
    if (status.state === "connected") {
      if (this.#rejoinOnReconnect && this.store.get().room.status === "ended") {
        this.#rejoinOnReconnect = false;
        this.join(); // a new participant of the same room: the others see us leave and come back
      }
      return;
    }
    if (status.state === "unreachable" && this.#rejoinOnReconnect) {
      this.#rejoinOnReconnect = false;
      this.store.update("room", {
        notice: "",
        error: ROOM_TEXT.serverLost,
      });
      return;
    }
    if (!LIVE.has(this.store.get().room.status)) return;
    // The node forgets a vanished socket's room membership at once (group rooms have no resume
    // grace); so do we, and join again as soon as the socket is back.
    this.#endSession();
    this.#reset("ended");
    this.#rejoinOnReconnect = true;
    this.store.update("room", { notice: ROOM_TEXT.rejoining });
  }

  #onRoute(path) {
    const { status } = this.store.get().room;
    if (path !== "/room" && status !== "idle") {
      this.leave({ navigate: false }); // the back button leaves the room like Leave does
    } else if (path === "/room" && status === "idle") {
      this.router.go("/studio"); // nothing to show without a room (e.g. a reload)
    }
  }
}

// The 1:1 call's use cases: find a partner, talk, chat, next, skip, report, stop. Views call these
// methods and render the store; the signaling and call modules do the talking, LocalMedia holds
// the camera and microphone.
import { CallSession } from "./call.js";
import { CALL_TEXT, iceFailureText, mediaStatePatch } from "./connection-text.js";
import { classifyIceFailure } from "./ice-diagnosis.js";
import { validateChatMessage } from "./limits.js";
import { initialState } from "./store.js";

const LIVE = new Set(["requesting", "waiting", "connecting", "in-call"]);
// Disconnect reasons of a socket that died under the page (signaling.js adds "probe timeout"):
// a call in progress resumes after them.
const DROPPED = ["transport close", "transport error", "ping timeout", "probe timeout"];
// After a resume, ICE that turns `disconnected` this soon is the network change showing late
// (Chromium notices a dead path within a few seconds): restart ICE then, too.
const RESTART_WINDOW_MS = 10_000;
// A connection still not up this long after it started is looked at (ice-diagnosis.js): a
// network that blocks calls says so here rather than leaving "Connecting…" forever.
const CONNECT_CHECK_MS = 15_000;

/** The node's word for a p2p call's ICE: "relay" (strangers' addresses hidden) or "all". */
function policyOf(message) {
  return message?.iceTransportPolicy === "relay" ? "relay" : "all";
}

function readable(err) {
  return err?.readable ?? err?.message ?? String(err);
}

function millis(timestamp) {
  const t = Number(timestamp);
  if (!Number.isFinite(t) || t <= 0) return Date.now();
  return t < 1e12 ? t * 1000 : t; // the node may send seconds
}

/** The notice when a call changes mode (`mode-changed`). */
function switchedText(mode, iceTransportPolicy) {
  if (mode !== "p2p") return "Switched to a connection through the server.";
  return iceTransportPolicy === "relay"
    ? "Switched to a connection between you and your partner through a relay server."
    : "Switched to a direct connection between you and your partner.";
}

export class App {
  #session = null;
  // match-done's resumeToken: sent in `resume` when the socket comes back (docs/protocol.md).
  #resumeToken = null;
  #resuming = false;
  #restartWindowEnds = 0;
  // The node drains (`server-shutdown` with `reconnect`) while this browser waits for a partner:
  // queue again once the socket reached another node (docs/protocol.md, "Shutdown and drain").
  #requeueOnMove = false;
  #refusedByDrain = false;

  constructor({ store, signaling, router, localMedia, preferredMode }) {
    this.store = store;
    this.localMedia = localMedia; // the camera and microphone (LocalMedia)
    this.signaling = signaling;
    this.router = router;
    this.preferredMode = preferredMode; // "sfu" | "p2p" | undefined (from ?mode=)
    this.#listen();
  }

  get session() {
    return this.#session;
  }

  /** Tells the partner about mute / camera off (`media-state`); they show an indicator. */
  #sendMediaState() {
    this.signaling
      .requestInRoom("media-state", this.localMedia.wireState)
      .catch((err) => console.warn("media-state", err));
  }

  // ----- finding a partner -----

  async findPartner() {
    if (!this.localMedia.requireStream()) return;
    this.#resetCall("requesting");
    this.router.go("/call");
    await this.#requestRoom();
  }

  async #requestRoom() {
    const { userName, userImage } = this.store.get().profile;
    const payload = { userName };
    if (userImage) payload.userImage = userImage;
    if (this.preferredMode) payload.mode = this.preferredMode;
    try {
      await this.signaling.request("request-room", payload);
      // match-done may already have overtaken the ack.
      if (this.store.get().call.status === "requesting") {
        this.store.update("call", { status: "waiting" });
      }
    } catch (err) {
      // A draining node refuses with `capacity` and then tells this browser to move on.
      this.#refusedByDrain = err?.code === "capacity";
      this.store.update("call", { status: "ended", error: readable(err) });
    }
  }

  /** `server-shutdown` with `reconnect`: a browser waiting for a partner (or just refused by the
   * draining node) queues again on the node it reconnects to. A call in progress is not touched:
   * the node lets it run, and ends it with `partner-left {reason: "shutdown"}` at the latest. */
  #onShutdown() {
    const { status } = this.store.get().call;
    if (status === "requesting" || status === "waiting" || (status === "ended" && this.#refusedByDrain)) {
      this.#requeueOnMove = true;
      this.store.update("call", { status: "requesting", error: "", notice: CALL_TEXT.moving });
    }
  }

  async #onMoved() {
    if (!this.#requeueOnMove) return;
    this.#requeueOnMove = false;
    this.#refusedByDrain = false;
    if (this.store.get().call.status !== "requesting") return; // the user stopped meanwhile
    this.store.update("call", { notice: "" });
    await this.#requestRoom();
  }

  /** Next: leave this call (or the queue) and queue again. */
  async next() {
    this.#endSession();
    this.#resetCall("requesting");
    await this.#stopCall();
    await this.#requestRoom();
  }

  /** Skip: never meet this partner again in this session, then Next. */
  async skip() {
    await this.#aboutPartner("skip-partner", {});
    await this.next();
  }

  /** Report: store a report (reason from REPORT_REASONS, optional text), never meet this
   * partner again, then Next. */
  async report(reason, text = "") {
    const payload = { reason };
    if (text.trim()) payload.text = text.trim();
    const done = await this.#aboutPartner("report-partner", payload);
    await this.next();
    if (done) this.store.update("call", { notice: "Thank you. Your report was sent." });
  }

  async #aboutPartner(event, payload) {
    try {
      await this.signaling.request(event, payload);
      return true;
    } catch (err) {
      this.store.update("call", { error: readable(err) });
      return false;
    }
  }

  /** Stop: leave the call and go back to the Studio. */
  async stop({ navigate = true } = {}) {
    const wasLive = LIVE.has(this.store.get().call.status) || this.#session;
    this.#endSession();
    this.#resetCall("idle");
    if (navigate && this.router.path !== "/studio") this.router.go("/studio");
    if (wasLive) await this.#stopCall();
  }

  async #stopCall() {
    await this.signaling
      .requestInRoom("stop-call")
      .catch((err) => this.store.update("call", { error: readable(err) }));
  }

  #resetCall(status) {
    this.store.update("call", { ...initialState().call, status, remoteStream: null });
    this.store.update("chat", { messages: [], error: "" });
  }

  // ----- the call -----

  #onMatch(match) {
    this.#endSession();
    this.#resetCall("connecting");
    this.#resumeToken = typeof match?.resumeToken === "string" ? match.resumeToken : null;
    const peer = match?.peer && typeof match.peer === "object" ? match.peer : {};
    this.store.update("call", {
      roomId: String(match?.roomId ?? ""),
      mode: match?.mode,
      role: match?.role,
      peer: {
        participantId: String(peer.participantId ?? ""),
        userName: String(peer.userName ?? "Your partner"),
        userImage: peer.userImage ?? "",
        audio: true,
        video: true,
      },
      recording: Boolean(match?.recording),
      iceTransportPolicy: policyOf(match),
    });
    if (this.router.path !== "/call") this.router.go("/call");
    this.#startSession(match?.mode, match?.role, match?.iceServers, policyOf(match));
  }

  #startSession(mode, role, iceServers, iceTransportPolicy) {
    const session = new CallSession({
      signaling: this.signaling,
      localStream: this.localMedia.stream,
      iceServers,
      mode,
      role,
      iceTransportPolicy,
    });
    session.addEventListener("connection", (e) => this.#onPeerState(session, e.detail.state));
    session.addEventListener("ice", (e) => this.#onIceState(session, e.detail.state));
    session.addEventListener("stalled", () => this.#onStalled(session));
    session.addEventListener("flowing", () => this.#onFlowing(session));
    session.addEventListener("remote-track", (e) => this.#onRemoteTrack(session, e.detail));
    session.addEventListener("error", (e) => {
      if (session === this.#session) this.store.update("call", { error: e.detail.message });
    });
    this.#session = session;
    session.start();
    this.#checkConnectingLater(session);
    const { audioEnabled, videoEnabled } = this.store.get().media;
    if (!audioEnabled || !videoEnabled) this.#sendMediaState(); // the partner assumes both on
  }

  /** `bandwidth-estimate` (docs/protocol.md): shown by the stats panel; bit/s or null. */
  #onBandwidthEstimate(estimate) {
    const bps = (v) => (Number.isFinite(v) && v >= 0 ? v : null);
    this.store.update("call", {
      nodeEstimate: { downlink: bps(estimate?.downlink), uplinkTarget: bps(estimate?.uplinkTarget) },
    });
  }

  /** `participant-updated` from the partner: mute indicators on their video. */
  #onPeerUpdated(update) {
    const { peer } = this.store.get().call;
    if (!this.#session || !peer) return;
    if (peer.participantId && update?.participantId && update.participantId !== peer.participantId) return;
    this.store.update("call", {
      peer: { ...peer, audio: update?.audio !== false, video: update?.video !== false },
    });
  }

  #onRemoteTrack(session, { stream }) {
    if (session !== this.#session) return;
    // 1:1 shows the first participant; group tiles would use session.participants.
    const first = session.participants.values().next().value ?? stream;
    this.store.update("call", { remoteStream: first, remoteStreams: session.participants.size });
  }

  #onPeerState(session, state) {
    if (session !== this.#session) return;
    const patch = mediaStatePatch(CALL_TEXT, state, this.store.get().call.status);
    if (patch) this.store.update("call", patch);
  }

  /** The media path died (ICE `disconnected` or `failed`). After a network change the socket
   * died with it but looks connected until socket.io's ping timeout, while the node holds the
   * call only until 10 s after this browser's last sign of life: probe the socket first
   * (signaling.js), which on no answer reconnects at once, and the resume restarts ICE
   * (#resume). With the socket up: ICE restart on `failed` at any time, on `disconnected`
   * shortly after a resume. */
  async #onIceState(session, state) {
    if (session !== this.#session) return;
    if (state === "failed") this.#explainFailure(session);
    if (state !== "failed" && state !== "disconnected") return;
    if (this.#resuming || !this.signaling.connected) return;
    const alive = await this.signaling.probe();
    if (!alive || session !== this.#session || this.#resuming || !this.signaling.connected) return;
    const now = session.pc?.iceConnectionState;
    if (now === "failed" || (now === "disconnected" && Date.now() < this.#restartWindowEnds)) {
      this.#restartWindowEnds = 0;
      session.recoverMedia();
    }
  }

  /** The call's inbound media (from the partner in p2p, the node in sfu) stopped arriving
   * (media-watch.js), seconds before ICE says so: say so, as for ICE `disconnected`. This browser's network may have changed, and its socket died
   * with it (see #onIceState): if so, the probe reconnects and the resume restarts ICE; if not,
   * it is the partner's network, and the partner restarts (this page waits and answers). */
  #onStalled(session) {
    if (session !== this.#session) return;
    if (this.store.get().call.status === "in-call") {
      this.store.update("call", { error: CALL_TEXT.disconnected });
    }
    if (!this.#resuming) this.signaling.probe();
  }

  #onFlowing(session) {
    if (session !== this.#session) return;
    if (this.store.get().call.error === CALL_TEXT.disconnected) this.store.update("call", { error: "" });
  }

  /** The browser says its network changed (`online`, `navigator.connection` `change`): the
   * socket may be dead already (see #onIceState). */
  #onNetworkChange() {
    const { status } = this.store.get().call;
    if (this.#session && (status === "connecting" || status === "in-call")) this.signaling.probe();
  }

  #onModeChanged(change) {
    if (!this.#session) return;
    const iceTransportPolicy = policyOf(change);
    this.store.update("call", {
      status: "connecting",
      mode: change?.mode,
      role: change?.role,
      iceTransportPolicy,
      remoteStream: null,
      remoteStreams: 0,
      error: "",
      notice: switchedText(change?.mode, iceTransportPolicy),
    });
    this.#session.restart({ mode: change?.mode, role: change?.role, iceTransportPolicy });
    this.#checkConnectingLater(this.#session);
  }

  async #onPartnerLeft(left) {
    if (!LIVE.has(this.store.get().call.status)) return;
    const session = this.#session;
    const reason = String(left?.reason ?? "");
    // The node gave up on a media connection (ours or the partner's): say whose, and why if
    // this browser's own statistics tell (a network that blocks calls).
    const failed = reason === "media-failed" && session;
    const summary = failed ? await session.iceSummary() : null;
    const diagnosis = failed ? classifyIceFailure(summary, location.hostname) : "";
    if (session !== this.#session || !LIVE.has(this.store.get().call.status)) return;
    const turnOffered = session?.turnOffered ?? false;
    this.#endSession();
    this.store.update("call", {
      status: "partner-left",
      leftReason: reason,
      remoteStream: null,
      remoteStreams: 0,
      error:
        diagnosis === "connected"
          ? CALL_TEXT.partnerMediaFailed
          : (iceFailureText(diagnosis, { turnOffered }) ?? ""),
    });
  }

  /** A connection that failed or never connected: tell why when the statistics say so. */
  async #explainFailure(session) {
    const diagnosis = classifyIceFailure(await session.iceSummary(), location.hostname);
    const text = iceFailureText(diagnosis, { turnOffered: session.turnOffered });
    if (text && session === this.#session) this.store.update("call", { error: text });
  }

  #checkConnectingLater(session) {
    const { pc } = session; // this connection: a mode change starts another, with its own check
    setTimeout(() => {
      const current = session === this.#session && session.pc === pc;
      if (current && this.store.get().call.status === "connecting") this.#explainFailure(session);
    }, CONNECT_CHECK_MS);
  }

  #endSession() {
    this.#session?.close();
    this.#session = null;
  }

  // ----- chat -----

  async sendChat(text) {
    const problem = validateChatMessage(text);
    if (problem) {
      this.store.update("chat", { error: problem });
      return false;
    }
    try {
      const reply = await this.signaling.request("newMessage", { message: text });
      const stored = reply.message && typeof reply.message === "object" ? reply.message : {};
      this.#appendChat({
        own: true,
        userName: this.store.get().profile.userName,
        message: typeof stored.message === "string" ? stored.message : text,
        timestamp: millis(stored.timestamp),
      });
      this.store.update("chat", { error: "" });
      return true;
    } catch (err) {
      this.store.update("chat", { error: readable(err) });
      return false;
    }
  }

  #appendChat(entry) {
    const messages = [...this.store.get().chat.messages, entry].slice(-500);
    this.store.update("chat", { messages });
  }

  // ----- server events -----

  #listen() {
    const s = this.signaling;
    s.on("match-done", (m) => this.#onMatch(m));
    s.on("negotiation-call-offer", (p) => this.#session?.handleDescription(p?.sdp));
    s.on("negotiation-call-answer", (p) => this.#session?.handleDescription(p?.sdp));
    s.on("send-new-ice-candidates", (p) => this.#session?.handleCandidate(p?.candidate));
    s.on("renegotiate", () => this.#session?.makeOffer());
    s.on("mode-changed", (c) => this.#onModeChanged(c));
    s.on("partner-left", (p) => this.#onPartnerLeft(p));
    s.on("participant-updated", (p) => this.#onPeerUpdated(p));
    s.on("recording", (r) => this.store.update("call", { recording: Boolean(r?.active) }));
    s.on("bandwidth-estimate", (b) => this.#onBandwidthEstimate(b));
    s.on("newMessage", (m) =>
      this.#appendChat({
        own: false,
        userName: String(m?.userName ?? "Partner"),
        message: String(m?.message ?? ""),
        timestamp: millis(m?.timestamp),
      }),
    );
    s.addEventListener("status", (e) => this.#onSignalingStatus(e.detail));
    s.addEventListener("shutdown", () => this.#onShutdown());
    s.addEventListener("moved", () => this.#onMoved());
    this.router.addEventListener("route", (e) => this.#onRoute(e.detail.path));
    this.localMedia.addEventListener("switched", () => {
      if (this.#session) this.#sendMediaState();
    });
    window.addEventListener("online", () => this.#onNetworkChange());
    navigator.connection?.addEventListener?.("change", () => this.#onNetworkChange());
  }

  #onSignalingStatus(status) {
    this.store.update("connection", status);
    const { status: callStatus } = this.store.get().call;
    const inCall = callStatus === "connecting" || callStatus === "in-call";
    if (status.state === "connected" && this.#resuming) {
      this.#resume();
      return;
    }
    const dropped = DROPPED.includes(status.reason);
    if (dropped && inCall && this.#session && this.#resumeToken) {
      // The node holds the call for a while (--resume-grace); the media may well go on.
      this.#resuming = true;
      this.store.update("call", { notice: CALL_TEXT.resuming });
      return;
    }
    if (status.state !== "connected" && this.#resuming) return; // still trying
    if (this.#requeueOnMove) {
      // Moving to another node (#onShutdown), unless none could be reached.
      if (status.state !== "unreachable") return;
      this.#requeueOnMove = false;
      this.store.update("call", { status: "ended", notice: "", error: CALL_TEXT.serverLost });
      return;
    }
    if (status.state !== "connected" && LIVE.has(callStatus)) {
      // The node forgets a vanished socket's call and queue ticket; so do we.
      this.#endSession();
      this.store.update("call", {
        status: "ended",
        remoteStream: null,
        error: CALL_TEXT.serverLost,
      });
    }
  }

  async #resume() {
    this.#resuming = false;
    try {
      const ack = await this.signaling.request("resume", { token: this.#resumeToken });
      this.#resumeToken = typeof ack.resumeToken === "string" ? ack.resumeToken : null;
      if (!ack.roomId) throw new Error("the call ended meanwhile");
      this.store.update("call", { notice: "", error: "" });
      // mode-changed may have been sent while the socket was away.
      if (ack.mode !== this.store.get().call.mode) {
        this.#onModeChanged(ack);
      } else if (this.#session?.mediaBroken || this.#session?.mediaStalled) {
        this.#session.recoverMedia(); // the network changed: ICE restart
      } else {
        this.#restartWindowEnds = Date.now() + RESTART_WINDOW_MS;
      }
    } catch {
      this.#resumeToken = null;
      this.#endSession();
      this.store.update("call", {
        status: "ended",
        remoteStream: null,
        notice: "",
        error: CALL_TEXT.resumeFailed,
      });
    }
  }

  #onRoute(path) {
    this.store.update(null, { route: path });
    const { status } = this.store.get().call;
    if (path !== "/call" && status !== "idle") {
      this.stop({ navigate: false }); // the back button leaves the call like Stop does
    }
    if (path === "/call" && status === "idle") {
      this.router.go("/studio"); // nothing to show without a call (e.g. a reload)
      return;
    }
    this.localMedia.followRoute(path);
  }
}

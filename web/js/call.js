// One call's RTCPeerConnection, in either mode of docs/protocol.md:
//  - "p2p": the node relays offer/answer/candidates to the partner. The roles from `match-done`
//    decide who offers first; later renegotiation follows "perfect negotiation" (W3C WebRTC 1.0
//    §10.7 example) with the answerer as the polite peer, so glare resolves itself.
//  - "sfu": the node is the peer. The browser always offers (sendrecv audio + video), the node
//    only answers, and `renegotiate` asks for a fresh offer — so glare cannot happen.
// Answers take the same path in both modes. Remote tracks are grouped by their msid stream id,
// which in sfu is the participantId of the track's owner (group rooms map streams to tiles).
// Group rooms (docs/protocol.md "M-lines of a browser's offer") also add recvonly m-lines for
// the others' tracks and a sendonly m-line for a shared screen; after every answer the session
// reports each receiving m-line's owner and track id, read from the answer's msid by mid.
// A p2p call between strangers may be relay-only (`iceTransportPolicy: "relay"` from the node,
// docs/protocol.md "Strangers' addresses"): the browser then gathers and offers only TURN
// relay candidates, so the partner never learns its address.

import { iceSummary } from "./ice-diagnosis.js";
import { inboundPackets, stalled, watchInbound } from "./media-watch.js";
import { cameraEncodings } from "./simulcast.js";

const KINDS = ["audio", "video"];
// How often the inbound media is looked at (media-watch.js): a stall shows within STALL_MS + this.
const WATCH_MS = 500;
const RECEIVING = new Set(["sendrecv", "recvonly"]);

/** mid → {streamId, trackId} from an SDP's `a=mid` / `a=msid` lines (RFC 8830 §2). */
export function msidByMid(sdp) {
  const out = new Map();
  for (const section of String(sdp ?? "").split(/\r?\nm=/).slice(1)) {
    const mid = /^a=mid:(\S+)/m.exec(section)?.[1];
    const msid = /^a=msid:(\S+) (\S+)/m.exec(section);
    if (mid !== undefined && msid) out.set(mid, { streamId: msid[1], trackId: msid[2] });
  }
  return out;
}

export class CallSession extends EventTarget {
  #signaling;
  #localStream;
  #iceServers;
  #pendingCandidates = [];
  #makingOffer = false;
  #ignoreOffer = false;
  #settingRemoteAnswer = false;
  #offerAgain = false;
  #closed = false;
  // The inbound media of the current connection (media-watch.js) and its sampling timer.
  #watch = null;
  #watchTimer = null;
  #layerChange = Promise.resolve(); // set-video-layers changes, one after the other

  constructor({ signaling, localStream, iceServers, mode, role, iceTransportPolicy, simulcast }) {
    super();
    /** Group rooms: the camera goes to the node as up to three encodings (simulcast.js). */
    this.simulcast = Boolean(simulcast);
    this.#signaling = signaling;
    this.#localStream = localStream;
    this.#iceServers = Array.isArray(iceServers) ? iceServers : [];
    this.mode = mode;
    this.role = role;
    this.iceTransportPolicy = iceTransportPolicy === "relay" ? "relay" : "all";
    /** participant (msid stream id) → MediaStream of that participant's tracks */
    this.participants = new Map();
    this.pc = null;
  }

  get polite() {
    return this.mode === "p2p" && this.role === "answerer";
  }

  /** The node gave this browser a TURN relay (a `turn:`/`turns:` URL in its iceServers). */
  get turnOffered() {
    return this.#iceServers.some((server) =>
      [server?.urls].flat().some((url) => /^turns?:/.test(String(url))),
    );
  }

  /** A p2p call whose browsers may connect directly: each sees the other's addresses. */
  get direct() {
    return this.mode === "p2p" && this.iceTransportPolicy !== "relay";
  }

  start() {
    const pc = new RTCPeerConnection({
      iceServers: this.#iceServers,
      bundlePolicy: "max-bundle",
      // In sfu the node is the peer, and its address is no secret.
      iceTransportPolicy: this.mode === "p2p" ? this.iceTransportPolicy : "all",
    });
    this.pc = pc;
    this.#addLocalMedia(pc);
    pc.addEventListener("negotiationneeded", () => this.#onNegotiationNeeded(pc));
    pc.addEventListener("icecandidate", ({ candidate }) => this.#sendCandidate(pc, candidate));
    pc.addEventListener("track", (event) => {
      this.#onTrack(event);
      this.#reportRemoteMedia(pc);
    });
    pc.addEventListener("connectionstatechange", () => {
      if (pc === this.pc) this.#emit("connection", { state: pc.connectionState });
    });
    pc.addEventListener("iceconnectionstatechange", () => {
      if (pc === this.pc) this.#emit("ice", { state: pc.iceConnectionState });
    });
    this.#watchMedia(pc);
  }

  /** ICE lost its path (`disconnected`, `failed`) or the connection is gone: no media now. */
  get mediaBroken() {
    const pc = this.pc;
    if (!pc || pc.signalingState === "closed") return true;
    return ["disconnected", "failed", "closed"].includes(pc.iceConnectionState);
  }

  /** The media that was arriving stopped (media-watch.js): after a network change, the path
   * died before ICE noticed. */
  get mediaStalled() {
    return stalled(this.#watch, performance.now());
  }

  /** Samples the inbound packet count of `pc` while it is the current connection; emits
   * `stalled` once when media that was arriving stops, and `flowing` when it comes back. */
  #watchMedia(pc) {
    clearInterval(this.#watchTimer);
    this.#watch = null;
    let reported = false;
    const timer = setInterval(async () => {
      if (pc !== this.pc || this.#closed) {
        clearInterval(timer);
        return;
      }
      let report;
      try {
        report = await pc.getStats();
      } catch {
        return; // closed meanwhile
      }
      if (pc !== this.pc) return;
      const now = performance.now();
      this.#watch = watchInbound(this.#watch, inboundPackets(report), now);
      const stopped = stalled(this.#watch, now);
      if (stopped !== reported) this.#emit(stopped ? "stalled" : "flowing", {});
      reported = stopped;
    }, WATCH_MS);
    this.#watchTimer = timer;
  }

  /**
   * Media again after the network changed (docs/protocol.md, "Resume"): an ICE restart
   * (RFC 8445 §9). `restartIce()` fires `negotiationneeded` and the next offer carries new ICE
   * credentials — in p2p the partner restarts too (either role may offer: perfect negotiation);
   * in sfu the node answers from a new connection of its own, new DTLS fingerprint included,
   * which Chromium takes on the same RTCPeerConnection (it starts a new DTLS association when
   * the remote fingerprint changes). A connection that is already closed cannot restart: in
   * sfu a new one offers afresh, which the node handles as the same ICE restart.
   */
  recoverMedia() {
    if (this.#closed) return;
    const pc = this.pc;
    if (pc && pc.signalingState !== "closed") {
      pc.restartIce();
    } else if (this.mode === "sfu") {
      const { mode, role, iceTransportPolicy } = this;
      this.restart({ mode, role, iceTransportPolicy });
    }
  }

  /** What the current connection's statistics say about its ICE (ice-diagnosis.js). */
  async iceSummary() {
    return iceSummary(this.pc);
  }

  /** `mode-changed`: drop this connection and negotiate again in the new mode, same call. */
  restart({ mode, role, iceTransportPolicy }) {
    this.#teardown();
    this.mode = mode;
    this.role = role;
    this.iceTransportPolicy = iceTransportPolicy === "relay" ? "relay" : "all";
    this.#closed = false;
    this.#resetNegotiation();
    this.start();
  }

  close() {
    this.#closed = true;
    this.#teardown();
  }

  // ----- local media -----

  #addLocalMedia(pc) {
    const stream = this.#localStream;
    for (const kind of KINDS) {
      const track = stream?.getTracks().find((t) => t.kind === kind) ?? null;
      if (this.mode === "sfu") {
        // The contract: the browser's offer to the node is sendrecv audio + video.
        const init = { direction: "sendrecv", streams: stream ? [stream] : [] };
        const height = track?.getSettings().height ?? 0;
        const encodings = this.simulcast && kind === "video" ? cameraEncodings(height) : null;
        if (encodings) init.sendEncodings = encodings;
        pc.addTransceiver(track ?? kind, init);
      } else if (track) {
        // addTrack, not addTransceiver: only addTrack's transceivers can be reused by an
        // incoming offer's m-lines (JSEP RFC 8829 §5.10), which the p2p answerer relies on.
        pc.addTrack(track, stream);
      } else if (this.role === "offerer") {
        pc.addTransceiver(kind, { direction: "recvonly" });
      }
    }
  }

  /**
   * Group rooms: have at least `audio` / `video` m-lines that receive. Adding one fires
   * `negotiationneeded`, so the offer that follows carries it. M-lines are never removed.
   */
  ensureReceiveSlots({ audio = 0, video = 0 }) {
    const pc = this.pc;
    if (!pc || this.#closed || this.mode !== "sfu") return;
    const wanted = { audio, video };
    for (const kind of KINDS) {
      const have = pc
        .getTransceivers()
        .filter((t) => !t.stopped && RECEIVING.has(t.direction) && t.receiver.track.kind === kind);
      for (let n = have.length; n < wanted[kind]; n += 1) {
        pc.addTransceiver(kind, { direction: "recvonly" });
      }
    }
  }

  /**
   * `set-video-layers` from the node: pause the simulcast encodings it names on the m-line
   * `mid` (`active = false` stops their encoders) and resume the others. One change at a
   * time: each reads the parameters the previous one set.
   */
  setPausedLayers(payload) {
    const mid = String(payload?.mid ?? "");
    const paused = Array.isArray(payload?.paused) ? payload.paused.map(String) : [];
    this.#layerChange = this.#layerChange.then(async () => {
      const pc = this.pc;
      if (!pc || this.#closed) return;
      const transceiver = pc.getTransceivers().find((t) => t.mid === mid && !t.stopped);
      const sender = transceiver?.sender;
      if (!sender?.track) return;
      const params = sender.getParameters();
      let changed = false;
      for (const encoding of params.encodings ?? []) {
        const active = !(encoding.rid && paused.includes(encoding.rid));
        if (encoding.active !== active) {
          encoding.active = active;
          changed = true;
        }
      }
      if (changed) await sender.setParameters(params);
    }).catch((err) => console.warn("set-video-layers", err));
  }

  /** Publish a screen track on its own sendonly m-line; its id is the msid track id. */
  addScreen(track) {
    const pc = this.pc;
    if (!pc || this.#closed) return null;
    const streams = this.#localStream ? [this.#localStream] : [];
    return pc.addTransceiver(track, { direction: "sendonly", streams });
  }

  /** Stop publishing a screen: the m-line stays, inactive (m-lines are never removed). */
  async removeScreen(transceiver) {
    if (!transceiver || transceiver.stopped || this.#closed) return;
    transceiver.direction = "inactive";
    await transceiver.sender.replaceTrack(null);
  }

  // ----- offers and answers -----

  #onNegotiationNeeded(pc) {
    // The p2p answerer waits for the offerer's first offer: exactly one side starts (contract).
    if (this.mode === "p2p" && this.role === "answerer" && !pc.remoteDescription) return;
    this.makeOffer();
  }

  /** Offer now, or as soon as the current exchange ends (`renegotiate` while one is running). */
  async makeOffer() {
    const pc = this.pc;
    if (!pc || this.#closed) return;
    if (this.#makingOffer || pc.signalingState !== "stable") {
      this.#offerAgain = true;
      return;
    }
    this.#offerAgain = false;
    this.#makingOffer = true;
    try {
      await pc.setLocalDescription(await pc.createOffer());
      if (pc !== this.pc) return;
      const { type, sdp } = pc.localDescription;
      await this.#send("negotiation-call-offer", { sdp: { type, sdp } });
    } catch (err) {
      await this.#rollback(pc);
      this.#fail(pc, "Could not start the video connection", err);
    } finally {
      this.#makingOffer = false;
    }
    // The answer comes as its own event and may be applied before this offer's ack resolves:
    // a request made meanwhile (a `renegotiate`, an ICE restart's negotiationneeded) found
    // #makingOffer still set and only raised #offerAgain, which no later answer would act on.
    if (this.#offerAgain && pc === this.pc && pc.signalingState === "stable") await this.makeOffer();
  }

  /** An offer the other side refused or never answered (e.g. `rate-limited`, a timeout) must not
   * leave the connection in have-local-offer: every later offer — a `renegotiate`, an ICE
   * restart — would wait for an answer that never comes. */
  async #rollback(pc) {
    if (pc.signalingState !== "have-local-offer") return;
    try {
      await pc.setLocalDescription({ type: "rollback" });
    } catch (err) {
      console.warn("could not roll the refused offer back", err);
    }
  }

  /** A `negotiation-call-offer` (p2p partner) or `negotiation-call-answer` (partner or node). */
  async handleDescription(description) {
    const pc = this.pc;
    if (!pc || this.#closed || !description?.type || typeof description.sdp !== "string") return;
    const isOffer = description.type === "offer";
    const readyForOffer =
      !this.#makingOffer && (pc.signalingState === "stable" || this.#settingRemoteAnswer);
    const collision = isOffer && !readyForOffer;
    this.#ignoreOffer = !this.polite && collision;
    if (this.#ignoreOffer) return;
    if (!isOffer && pc.signalingState !== "have-local-offer") return; // stale answer
    try {
      this.#settingRemoteAnswer = !isOffer;
      await pc.setRemoteDescription({ type: description.type, sdp: description.sdp });
      this.#settingRemoteAnswer = false;
      if (pc !== this.pc) return;
      await this.#flushCandidates(pc);
      if (isOffer) {
        await pc.setLocalDescription(await pc.createAnswer());
        const { type, sdp } = pc.localDescription;
        await this.#send("negotiation-call-answer", { sdp: { type, sdp } });
      } else {
        this.#reportRemoteMedia(pc);
        if (this.#offerAgain) await this.makeOffer();
      }
    } catch (err) {
      this.#settingRemoteAnswer = false;
      this.#fail(pc, "The video connection could not be set up", err);
    }
  }

  // ----- ICE candidates -----

  #sendCandidate(pc, candidate) {
    if (pc !== this.pc || this.#closed) return;
    // null = end of candidates (the contract allows it explicitly).
    const init = candidate && candidate.candidate ? candidate.toJSON() : null;
    this.#send("send-new-ice-candidates", { candidate: init }).catch((err) => {
      console.warn("candidate not delivered", err);
    });
  }

  /** A `send-new-ice-candidates` from the partner (p2p) or the node (sfu). */
  async handleCandidate(candidate) {
    const pc = this.pc;
    if (!pc || this.#closed) return;
    // addIceCandidate needs a remote description first; candidates may overtake the offer.
    if (!pc.remoteDescription) {
      this.#pendingCandidates.push(candidate ?? null);
      return;
    }
    await this.#addCandidate(pc, candidate ?? null);
  }

  async #flushCandidates(pc) {
    const queued = this.#pendingCandidates.splice(0);
    for (const candidate of queued) await this.#addCandidate(pc, candidate);
  }

  async #addCandidate(pc, candidate) {
    try {
      await (candidate ? pc.addIceCandidate(candidate) : pc.addIceCandidate());
    } catch (err) {
      // Candidates belonging to an offer we ignored during glare are expected to fail.
      if (!this.#ignoreOffer) console.warn("remote candidate refused", err);
    }
  }

  // ----- remote media -----

  #onTrack({ track, streams }) {
    const id = streams[0]?.id || "remote";
    let stream = this.participants.get(id);
    if (!stream) {
      stream = new MediaStream();
      this.participants.set(id, stream);
    }
    if (!stream.getTrackById(track.id)) stream.addTrack(track);
    this.#emit("remote-track", { participantId: id, track, stream });
  }

  /**
   * Every m-line that receives now, with its owner and the owner's track id from the remote
   * description's msid. A receiver's own track.id is local and says nothing about the sender.
   */
  #reportRemoteMedia(pc) {
    if (pc !== this.pc || this.#closed || !pc.remoteDescription) return;
    const msids = msidByMid(pc.remoteDescription.sdp);
    const tracks = [];
    for (const transceiver of pc.getTransceivers()) {
      const msid = transceiver.mid === null ? undefined : msids.get(transceiver.mid);
      if (transceiver.stopped || !msid || msid.streamId === "-") continue;
      if (!RECEIVING.has(transceiver.currentDirection)) continue;
      const { track } = transceiver.receiver;
      tracks.push({ participantId: msid.streamId, trackId: msid.trackId, kind: track.kind, track });
    }
    this.#emit("remote-media", { tracks });
  }

  // ----- plumbing -----

  async #send(event, payload) {
    return this.#signaling.request(event, payload);
  }

  #fail(pc, readable, err) {
    if (pc !== this.pc || this.#closed) return;
    console.error(readable, err);
    const detail = err?.readable ?? err?.message ?? String(err);
    this.#emit("error", { message: `${readable}: ${detail}` });
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #resetNegotiation() {
    this.#pendingCandidates = [];
    this.#makingOffer = false;
    this.#ignoreOffer = false;
    this.#settingRemoteAnswer = false;
    this.#offerAgain = false;
  }

  #teardown() {
    const pc = this.pc;
    this.pc = null;
    clearInterval(this.#watchTimer);
    this.#watch = null;
    this.participants.clear();
    // Local tracks belong to the page (Studio keeps them), so only the connection is closed.
    pc?.close();
  }
}

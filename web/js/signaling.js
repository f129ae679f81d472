// The socket.io connection to the node: every client → server event is a request whose ack becomes
// a promise, and connection changes become one "status" event the page can show.
// The official browser build is served by the node from web/node_modules (no CDN).
import { io } from "/vendor/socket.io/socket.io.esm.min.js";

const ACK_TIMEOUT_MS = 10_000;
// `server-shutdown` with `reconnect` (docs/protocol.md): the node drains for a deploy and closes
// this socket; a new connection reaches another node behind the load balancer. Spread out so a
// node's clients do not all come back in the same instant; a draining node refuses connections,
// so a refused one is tried again, a bounded number of times.
const RECONNECT_DELAY_MS = [300, 1500];
const RECONNECT_ATTEMPTS = 30;
// The node's signed key for this browser (docs/protocol.md, "Safety"): presented on every
// (re)connection so that a reported partner is kept apart from this browser for good.
const CLIENT_KEY = "liveloop.clientKey";

function storedClientKey() {
  try {
    return localStorage.getItem(CLIENT_KEY);
  } catch {
    return null; // storage disabled: every connection is a new browser
  }
}

// Wire error codes (docs/protocol.md) in words a person can act on.
const FRIENDLY = {
  "invalid-payload": "The server did not accept that",
  "not-in-room": "You are not in a call any more.",
  "rate-limited": "Slow down a little — too many requests. Try again in a moment.",
  "room-full": "That room is full.",
  unauthorized: "You are not allowed to do that.",
  "matchmaker-unavailable": "Matchmaking is unavailable right now. Please try again shortly.",
  capacity: "The server is full right now. Please try again in a minute.",
  internal: "Something went wrong on the server. Please try again.",
  timeout: "The server did not answer in time. Check your connection and try again.",
};

export class SignalingError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "SignalingError";
    this.code = code;
  }

  /** A sentence for the page: the server's own words for payload errors, ours otherwise. */
  get readable() {
    if (this.code === "invalid-payload") return `${FRIENDLY[this.code]}: ${this.message}`;
    return FRIENDLY[this.code] ?? `${this.message} (${this.code})`;
  }
}

export class Signaling extends EventTarget {
  constructor(url) {
    super();
    // WebSocket only: no long-polling, so no sticky sessions are needed behind a load balancer.
    this.socket = io(url, {
      transports: ["websocket"],
      reconnectionDelayMax: 1000, // well within the node's resume grace
      // Not closed on beforeunload: leaving the page says goodbye itself (#leaveOnPagehide).
      closeOnBeforeunload: false,
      // A function: read again on every reconnection.
      auth: (send) => {
        const clientKey = storedClientKey();
        // resume: this client resumes its call after a dropped socket (docs/protocol.md).
        send(clientKey ? { clientKey, resume: true } : { resume: true });
      },
    });
    this.status = { state: "connecting", attempt: 0 };
    this.#watchConnection();
    this.#followShutdown();
    this.#leaveOnPagehide();
  }

  // Attempts left to reconnect after the node said it shuts down (0: not reconnecting).
  #shutdownAttempts = 0;

  /** The node sends `server-shutdown` and then closes the socket itself, which socket.io never
   * reconnects on its own: connect again (to another node), and say so with a "moved" status
   * the use cases act on (the 1:1 page queues again). */
  #followShutdown() {
    this.socket.on("server-shutdown", (payload) => {
      if (payload?.reconnect !== true) return;
      this.#shutdownAttempts = RECONNECT_ATTEMPTS;
      this.dispatchEvent(new CustomEvent("shutdown", { detail: { reason: String(payload?.reason ?? "") } }));
    });
    this.socket.on("disconnect", (reason) => {
      if (reason === "io server disconnect" && this.#shutdownAttempts > 0) this.#reconnectSoon();
    });
    this.socket.on("connect_error", () => {
      if (this.#shutdownAttempts > 0 && !this.socket.active) this.#reconnectSoon();
    });
    this.socket.on("connect", () => {
      if (this.#shutdownAttempts > 0) {
        this.#shutdownAttempts = 0;
        this.dispatchEvent(new CustomEvent("moved"));
      }
    });
  }

  #reconnectSoon() {
    this.#shutdownAttempts -= 1;
    if (this.#shutdownAttempts === 0) {
      this.#setStatus("unreachable"); // no node took us: the page says so
      return;
    }
    const [low, high] = RECONNECT_DELAY_MS;
    setTimeout(() => {
      if (!this.socket.connected) this.socket.connect();
    }, low + Math.random() * (high - low));
  }

  /** Closing or leaving the page ends the call at once (`stop-call`), instead of looking like a
   * dropped socket the node holds for its resume grace. No explicit disconnect follows: the node
   * reads the event before it sees the websocket close (its events are serialized per client),
   * whereas a disconnect packet could overtake the event's handler. */
  #leaveOnPagehide() {
    window.addEventListener("pagehide", () => {
      if (this.socket.connected) this.socket.emit("stop-call", {});
    });
  }

  #setStatus(state, extra = {}) {
    this.status = { state, attempt: 0, ...extra };
    this.dispatchEvent(new CustomEvent("status", { detail: this.status }));
  }

  #watchConnection() {
    const manager = this.socket.io;
    this.socket.on("connect", () => this.#setStatus("connected"));
    this.socket.on("disconnect", (reason) => {
      // "io client disconnect" is our own close(); everything else is a lost connection.
      if (reason !== "io client disconnect") this.#setStatus("reconnecting", { reason });
    });
    this.socket.on("connect_error", () => {
      if (this.status.state !== "reconnecting") this.#setStatus("unreachable");
    });
    manager.on("reconnect_attempt", (attempt) => this.#setStatus("reconnecting", { attempt }));
    manager.on("reconnect_failed", () => this.#setStatus("unreachable"));
  }

  get connected() {
    return this.socket.connected;
  }

  /** Emit with an ack; resolves with the `{ok: true, ...}` reply, rejects with SignalingError. */
  async request(event, payload = {}) {
    let reply;
    try {
      reply = await this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload);
    } catch {
      throw new SignalingError("timeout", `no answer to "${event}"`);
    }
    if (reply && typeof reply === "object" && reply.error) {
      const { code = "internal", message = "" } = reply.error;
      throw new SignalingError(String(code), String(message));
    }
    if (!reply || reply.ok !== true) {
      throw new SignalingError("internal", `unexpected reply to "${event}"`);
    }
    if (typeof reply.clientKey === "string") this.#keepClientKey(reply.clientKey);
    return reply;
  }

  /** `request` for an event that only means something in a call or room: `not-in-room` (this
   * browser is out already) resolves with null instead of rejecting. */
  async requestInRoom(event, payload = {}) {
    try {
      return await this.request(event, payload);
    } catch (err) {
      if (err.code === "not-in-room") return null;
      throw err;
    }
  }

  #keepClientKey(key) {
    try {
      localStorage.setItem(CLIENT_KEY, key);
    } catch {
      // storage disabled: nothing to keep
    }
  }

  /** Subscribe to a server event; returns the function that unsubscribes. */
  on(event, handler) {
    this.socket.on(event, handler);
    return () => this.socket.off(event, handler);
  }
}

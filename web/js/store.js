// The page's state in one place: views render from it, the debug hook reads a copy of it.

export function createStore(initial) {
  let state = initial;
  const listeners = new Set();
  return {
    get: () => state,
    /** Shallow-merge `patch` into the named slice (or the root when `slice` is null). */
    update(slice, patch) {
      state = slice ? { ...state, [slice]: { ...state[slice], ...patch } } : { ...state, ...patch };
      for (const listener of listeners) listener(state);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

export const initialState = () => ({
  route: "/",
  connection: { state: "connecting", attempt: 0 },
  media: { state: "idle", error: "", audioEnabled: true, videoEnabled: true },
  devices: { cameras: [], microphones: [], cameraId: "", microphoneId: "" },
  profile: { userName: "", userImage: "" },
  // status: idle | requesting | waiting | connecting | in-call | partner-left | ended
  call: {
    status: "idle",
    roomId: "",
    mode: "",
    role: "",
    // p2p: "relay" hides the strangers' addresses from each other, "all" lets them connect
    // directly (docs/protocol.md "Strangers' addresses").
    iceTransportPolicy: "all",
    peer: null,
    recording: false,
    error: "",
    leftReason: "",
    notice: "",
    remoteStreams: 0,
    nodeEstimate: null, // the node's last `bandwidth-estimate` {downlink, uplinkTarget}, sfu only
  },
  chat: { messages: [], error: "" },
  // Creating a group room from Home (POST /api/rooms).
  home: { creating: false, link: "", error: "", copied: false },
  // A group room (docs/protocol.md "Group rooms"). roomId/token come from /room/<id>?token=.
  // status: idle | joining | connecting | in-room | ended | error
  room: {
    roomId: "",
    name: "", // the room's name, when its creator gave one
    token: "",
    link: "",
    status: "idle",
    error: "",
    notice: "",
    participantId: "",
    participants: [], // the others: {participantId, userName, audio, video, screenTrackId}
    activeSpeaker: "",
    recording: false,
    sharing: false,
    mediaVersion: 0, // bumped whenever a participant's tracks change (streams live in GroupRoom)
  },
});

"""The one seam to aiortc/aioice internals and to sockets.

Everything that touches a private member of aiortc or aioice, a socket or SRTP lives in this
package, and nowhere else:

- :mod:`.hooks` — the list of aiortc/aioice private members the node relies on, checked against
  the installed versions (a test fails loudly when an upgrade moves one), and the one way to
  override them;
- :mod:`.peer` — :class:`~.peer.NodePeer`, the node's end of one browser's WebRTC connection,
  without codecs: RTP handed to the session, never to a decoder;
- :mod:`.negotiated` — what a peer negotiated (codecs, header-extension ids, m-lines), as
  plain values read off the SDP, for the layers above;
- :mod:`.ice_gathering` — candidates on the operator's addresses and the guarded media sockets;
- :mod:`.srtp` — the compiled per-packet half: SRTP in and out, socket reads and sends.

The layers above (``media.sfu``, ``media.recording``) use these classes, not aiortc."""

"""Recording a room without transcoding: the recorder, its sources and timing, the depacketizers
(RTP payloads to frames, per codec) and the PyAV writer (libavformat mux, no decode or encode)."""

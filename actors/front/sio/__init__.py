"""The Socket.IO side of the front: the BroadcastHub, its two dialects and the websocket fast path."""

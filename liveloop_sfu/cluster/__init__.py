"""Node to node: the ``Cluster`` Protocol, its Redis implementation (requests over pub/sub) and
python-socketio's Redis manager adapted so local sockets never wait for Redis."""

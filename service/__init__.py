"""Strata's gRPC service: servicers, server wiring, settings, the client.

Two of gRPC's defaults are changed (unless the environment sets them) before gRPC is
imported:

- its fork handlers are turned off (``GRPC_ENABLE_FORK_SUPPORT``): the server forks a
  child to write an index file (``hierarchy.graphsave``), and the child never calls gRPC.
  With the handlers on, a child forked while a stream was being served died of a
  segmentation fault inside them, before it wrote a byte;
- its own log keeps to errors (``GRPC_VERBOSITY``): at its default it wrote a line such as
  ``I1207 … Handshake failed`` to the server's stderr, outside the log's format, for every
  client that spoke plain text to a TLS server (the client is told why it failed).
"""

import os

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

"""Strata's gRPC service: servicers, server wiring, settings, the client.

gRPC's own fork handlers are turned off (unless the environment sets
``GRPC_ENABLE_FORK_SUPPORT``) before gRPC is imported: the server forks a child to write
an index file (``hierarchy.graphsave``), and the child never calls gRPC. With the handlers
on, a child forked while a stream was being served died of a segmentation fault inside
them, before it wrote a byte.
"""

import os

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

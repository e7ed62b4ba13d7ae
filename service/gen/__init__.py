"""Generated gRPC stubs; regenerate with python -m tools.gen_stubs."""

"""Channel APIs on 127.0.0.1 that enforce their documented limits: for tests and benchmarks."""

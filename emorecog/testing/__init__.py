"""emorecog.testing: planted-signal tasks shared by the tests and the benchmarks (not used by the pipeline)."""

"""emorecog.testing: support shared by the tests, the benchmarks and `emorecog demo`'s serving check (not used by
the pipeline): planted-signal tasks, and the isolated interpreter that runs an exported model without emorecog
(`isolated_python`, `standalone_predict`)."""

"""emorecog benchmarks: each bench_<name>.py exposes run(quick=False) -> dict; run.py collects them."""

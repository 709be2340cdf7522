//! floe-bench: side-by-side benchmarks.

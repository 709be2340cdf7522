#!/usr/bin/env bash
# Runs DataFusion 53.1's own sqllogictest suite (the test_files/ shipped in the
# datafusion-sqllogictest crate) through floe-slt, to check that floe's front end breaks
# nothing. Files that need DataFusion's Rust test fixtures or data outside the crate are
# skipped; the list, with reasons, is crates/floe-slt/datafusion-suite-skip.txt.
#
#   scripts/datafusion-suite.sh                 # DataFusion's in-memory catalog as default
#   scripts/datafusion-suite.sh --floe-default  # floe's Iceberg catalog as default
set -euo pipefail
cd "$(dirname "$0")/.."
version=53.1.0
dir="${DATAFUSION_SUITE_DIR:-}"
if [ -z "$dir" ]; then
  dir=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/datafusion-sqllogictest-$version 2>/dev/null | head -1 || true)
fi
if [ -z "$dir" ] || [ ! -d "$dir/test_files" ]; then
  dir="target/datafusion-sqllogictest-$version"
  if [ ! -d "$dir/test_files" ]; then
    mkdir -p target
    echo "downloading datafusion-sqllogictest $version from crates.io" >&2
    curl -fsSL "https://static.crates.io/crates/datafusion-sqllogictest/datafusion-sqllogictest-$version.crate" \
      | tar -xz -C target
  fi
fi
cargo run --release -p floe-slt -- --datafusion-suite "$dir" "$@"

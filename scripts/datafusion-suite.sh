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
  # Fetch the crate's sources with cargo itself, into its registry cache.
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/src"
  : > "$tmp/src/lib.rs"
  cat > "$tmp/Cargo.toml" <<EOF
[package]
name = "fetch-datafusion-sqllogictest"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
datafusion-sqllogictest = { version = "=$version", default-features = false }

[workspace]
EOF
  echo "fetching datafusion-sqllogictest $version with cargo" >&2
  cargo fetch --manifest-path "$tmp/Cargo.toml" >&2
  home="${CARGO_HOME:-$HOME/.cargo}"
  dir=$(ls -d "$home"/registry/src/*/datafusion-sqllogictest-$version 2>/dev/null | head -1 || true)
  if [ -z "$dir" ] || [ ! -d "$dir/test_files" ]; then
    # cargo keeps the packed crate; unpack it under target/.
    crate=$(ls "$home"/registry/cache/*/datafusion-sqllogictest-$version.crate | head -1)
    mkdir -p target
    tar -xzf "$crate" -C target
    dir="target/datafusion-sqllogictest-$version"
  fi
fi
cargo run --release -p floe-slt -- --datafusion-suite "$dir" "$@"

#!/usr/bin/env bash
# Runs DataFusion 53.1's own sqllogictest suite (the test_files/ shipped in the
# datafusion-sqllogictest crate) through floe-slt, to check that floe's front end breaks
# nothing. Files that only DataFusion's own runner can run (its Rust test fixtures, Spark
# functions, ...) are skipped; the list, with reasons, is
# crates/floe-slt/datafusion-suite-skip.txt. Files that read data outside the
# crate (DataFusion's checkout and its testing/ and parquet-testing/ submodules) run when
# that data is given with --datafusion-data DIR: this script passes
# ../shared/fixtures/datafusion-testing (from the repository root) when it exists and the
# caller gave no --datafusion-data; otherwise they are skipped too.
#
#   scripts/datafusion-suite.sh                 # DataFusion's in-memory catalog as default
#   scripts/datafusion-suite.sh --floe-default  # floe's Iceberg catalog as default
#   scripts/datafusion-suite.sh --datafusion-data DIR
set -euo pipefail
# The repository root, physically: the fixtures are found relative to it.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$root"
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
data_args=()
given_data=false
for arg in "$@"; do
  case "$arg" in
    --datafusion-data|--datafusion-data=*) given_data=true ;;
  esac
done
fixtures="$root/../shared/fixtures/datafusion-testing"
if ! $given_data && [ -d "$fixtures" ]; then
  data_args=(--datafusion-data "$(cd "$fixtures" && pwd -P)")
fi
cargo run --release -p floe-slt -- --datafusion-suite "$dir" ${data_args[@]+"${data_args[@]}"} "$@"

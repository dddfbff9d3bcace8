#!/usr/bin/env bash
# Compile cost of instrumentation: generates four crates of 300 functions (half async)
# that differ only in the attribute (`#[obs_runtime::observe]`, `#[tracing::instrument]`,
# `#[autometrics]`, none), then measures for each
#   - touch-and-`cargo check` time of the crate alone (median of RUNS),
#   - expanded size per function (`-Zunpretty=expanded`, minus the plain crate's).
# Usage: benches/compile-cost/run.sh [N_FUNCTIONS] [RUNS]
set -euo pipefail
N=${1:-300}
RUNS=${2:-5}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/obs-compile-cost.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

cat > "$WORK/Cargo.toml" <<TOML
[workspace]
resolver = "3"
members = ["plain", "observe", "instrument", "autometrics"]

[workspace.dependencies]
obs-runtime = { path = "$ROOT/obs-runtime" }
tracing = { version = "0.1", features = ["attributes"] }
autometrics = { version = "3", default-features = false, features = ["prometheus-0_14"] }
TOML

gen() { # name attribute dependency-line
  local name=$1 attr=$2 dep=$3
  mkdir -p "$WORK/$name/src"
  printf '[package]\nname = "gen-%s"\nversion = "0.0.0"\nedition = "2024"\npublish = false\n\n[dependencies]\n%s\n' \
    "$name" "$dep" > "$WORK/$name/Cargo.toml"
  {
    echo '#![allow(dead_code, clippy::all)]'
    echo '#[derive(Debug)] pub struct E(pub u32);'
    echo 'impl std::fmt::Display for E { fn fmt(&self, f: &mut std::fmt::Formatter<'"'"'_>) -> std::fmt::Result { write!(f, "e{}", self.0) } }'
    echo 'impl std::error::Error for E {}'
    for i in $(seq 1 "$N"); do
      if (( i % 2 == 0 )); then
        echo "$attr"
        echo "pub async fn f$i(x: u32) -> Result<u32, E> { if x == $i { return Err(E(x)); } Ok(x.wrapping_mul($i)) }"
      else
        echo "$attr"
        echo "pub fn f$i(x: u32) -> Result<u32, E> { if x == $i { return Err(E(x)); } Ok(x.wrapping_add($i)) }"
      fi
    done
  } > "$WORK/$name/src/lib.rs"
}

gen plain "" ""
gen observe "#[obs_runtime::observe]" "obs-runtime.workspace = true"
gen instrument "#[tracing::instrument(skip_all, err)]" "tracing.workspace = true"
gen autometrics "#[autometrics::autometrics]" "autometrics.workspace = true"

cd "$WORK"
cargo check -q --workspace 2>/dev/null || cargo check --workspace

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
expanded() {
  RUSTC_BOOTSTRAP=1 cargo rustc -q -p "gen-$1" --profile check -- -Zunpretty=expanded 2>/dev/null | wc -c
}

plain_size=$(expanded plain)
printf '%-12s %14s %18s\n' crate "check (s)" "expanded B/fn"
for name in plain observe instrument autometrics; do
  times=()
  for _ in $(seq 1 "$RUNS"); do
    touch "$name/src/lib.rs"
    start=$(date +%s.%N)
    cargo check -q -p "gen-$name"
    end=$(date +%s.%N)
    times+=("$(awk -v a="$end" -v b="$start" 'BEGIN { print a - b }')")
  done
  t=$(printf '%s\n' "${times[@]}" | median)
  size=$(expanded "$name")
  per_fn=$(( (size - plain_size) / N ))
  printf '%-12s %14.3f %18d\n' "$name" "$t" "$per_fn"
done

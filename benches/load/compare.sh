#!/usr/bin/env bash
# The orders service under `hey` on loopback, three ways, in one run: with obs (ObsLayer,
# #[observe], the observed pool, spans to an OTLP sink, the access log and JSON lines on),
# without obs (feature `baseline`: the same handlers, business metrics and JSON lines,
# no layer), and the usual peer stack (feature `peer`: axum-prometheus, tower-http's
# TraceLayer with a response line, #[tracing::instrument(err)], tracing-subscriber JSON,
# tracing-opentelemetry exporting to the same sink). Rounds alternate the three so that
# the machine's drift falls on all alike; prints every round and the medians.
#
#   benches/load/compare.sh                  # 5 rounds of 10 s, 32 connections
#   ROUNDS=3 DURATION=5s CONNECTIONS=16 PATH_=/api/orders/1 benches/load/compare.sh
#
# Needs `hey` (Debian package hey) and python3. Numbers go to benches/README.md, never
# into timed assertions.
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-5}
[ "$ROUNDS" -ge 1 ] || { echo "compare: ROUNDS must be at least 1" >&2; exit 1; }
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
REQUEST_PATH=${PATH_:-/api/orders/1}
out=target/load-compare
mkdir -p "$out"

command -v hey >/dev/null || { echo "compare: hey is missing (apt-get install hey)" >&2; exit 1; }

build() { # variant, cargo feature flags...
  local variant=$1; shift
  cargo build -q --release -p obs-examples --example orders "$@"
  rm -f "$out/orders-$variant"
  cp target/release/examples/orders "$out/orders-$variant"
}
build obs
build without --features baseline
build peer --features peer
cargo build -q --release -p obs-benches --example otlp_sink

# The sink lives as long as this script: its stdin is a pipe we hold open.
coproc SINK { exec target/release/examples/otlp_sink; }
read -r sink_url <&"${SINK[0]}"
services=()
cleanup() {
  for pid in "${services[@]}"; do kill "$pid" 2>/dev/null || true; done
  exec {SINK[1]}>&- 2>/dev/null || true
}
trap cleanup EXIT

# Starts one variant on a free port: sets `pid` and `url` once it listens.
start() {
  local variant=$1 log="$out/$1.err"
  : > "$log"   # no address from an earlier run's log
  env -u DATABASE_URL -u OTEL_EXPORTER_OTLP_TRACES_ENDPOINT -u OTEL_TRACES_SAMPLER \
    ORDERS_ADDR=127.0.0.1:0 OTEL_EXPORTER_OTLP_ENDPOINT="$sink_url" RUST_LOG=info \
    "$out/orders-$variant" >/dev/null 2>"$log" &
  pid=$!
  services+=("$pid")
  url=""
  for _ in $(seq 1 300); do
    url=$(sed -n 's/^orders service on \(http:[^ ]*\).*/\1/p' "$log" | head -n 1)
    [ -n "$url" ] && break
    kill -0 "$pid" 2>/dev/null || { echo "compare: orders-$variant died:" >&2; cat "$log" >&2; exit 1; }
    sleep 0.1
  done
  [ -n "$url" ] || { echo "compare: orders-$variant did not start" >&2; exit 1; }
  # One order to read back.
  python3 - "$url" <<'PY'
import json, sys, urllib.request
body = json.dumps({"user_id": 1, "items": [{"sku": "A1", "quantity": 1, "price": 5.0}],
                   "payment_method": "card"}).encode()
req = urllib.request.Request(sys.argv[1] + "/api/orders", body, {"content-type": "application/json"})
assert urllib.request.urlopen(req).status == 201
PY
}

stop() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  services=()
}

results="$out/results.tsv"
: > "$results"
for round in $(seq 1 "$ROUNDS"); do
  for variant in obs without peer; do
    start "$variant"
    hey -z 2s -c "$CONNECTIONS" "$url$REQUEST_PATH" >/dev/null   # warm-up
    report=$(hey -z "$DURATION" -c "$CONNECTIONS" "$url$REQUEST_PATH")
    stop
    rps=$(sed -n 's/^[[:space:]]*Requests\/sec:[[:space:]]*\([0-9.]*\).*/\1/p' <<<"$report")
    p99=$(sed -n 's/^[[:space:]]*99% in \([0-9.]*\) secs.*/\1/p' <<<"$report")
    codes=$(sed -n 's/^[[:space:]]*\[\([0-9]*\)\][[:space:]]*\([0-9]*\) responses.*/\1:\2/p' <<<"$report" | tr '\n' ' ')
    if [ -z "$rps" ] || [ -z "$p99" ] || [ "$codes" != "200:${codes#200:}" ] || [[ "$codes" == *" "?*:* ]]; then
      echo "compare: orders-$variant: unreadable report or answers other than 200:" >&2
      printf '%s\n' "$report" >&2
      exit 1
    fi
    printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$variant" "$rps" "$p99" "$codes" | tee -a "$results"
  done
done

python3 - "$results" <<'PY'
import statistics, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
med = {}
for variant in ("obs", "without", "peer"):
    rps = [float(r[2]) for r in rows if r[1] == variant]
    p99 = [float(r[3]) * 1000 for r in rows if r[1] == variant]
    med[variant] = (statistics.median(rps), statistics.median(p99))
    print(f"{variant:8} median {med[variant][0]:9.0f} req/s  p99 {med[variant][1]:6.2f} ms")
o, w, p = med["obs"], med["without"], med["peer"]
print(f"obs / without: throughput {o[0] / w[0]:.2f} (target >= 0.9), p99 {o[1] / w[1]:.2f} (target <= 1.1)")
print(f"obs / peer:    throughput {o[0] / p[0]:.2f} (target >= 1.3)")
print(f"peer / without: throughput {p[0] / w[0]:.2f}")
PY

#!/usr/bin/env bash
# Load benchmark for `footfall serve`: wrk against POST /v1/collect, plus ack-to-visible probes.
#
#   bash bench/run.sh          (or: make bench)
#
# Knobs (environment): BENCH_DURATION (seconds, default 20), BENCH_CONNECTIONS (default 32),
# BENCH_THREADS (default 2), BENCH_SAMPLES (probes per phase, default 30), BENCH_VISITORS
# (visitor pool per wrk thread, default 5000), BENCH_CATCHUP_TIMEOUT (seconds the processor gets
# to catch up after wrk ends, default 60), BENCH_KEEP=1 keeps the temporary directory.
# See bench/README.md for what is measured and how.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=${VENV:-$ROOT/.venv}/bin
DURATION=${BENCH_DURATION:-20}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-2}
SAMPLES=${BENCH_SAMPLES:-30}
CATCHUP_TIMEOUT=${BENCH_CATCHUP_TIMEOUT:-60}  # seconds after wrk ends
TOKEN="ffk_bench_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"  # the operator key, 42 characters
TIMESTAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS="$ROOT/bench/results"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
server_alive() { kill -0 "$SERVER_PID" 2>/dev/null || die "footfall serve (pid $SERVER_PID) died; see its log below"; }

# -- prerequisites ----------------------------------------------------------------------------

[ -x "$BIN/footfall" ] || die "$BIN/footfall not found; run 'make install' first"
if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "wrk is missing; installing it with apt-get"
    { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 update -qq \
        && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -qq wrk \
        >/dev/null; } || log "apt-get could not install wrk"
  fi
  command -v wrk >/dev/null 2>&1 \
    || die "wrk is not installed; install it with 'sudo apt-get install -y wrk' (Debian/Ubuntu)"
fi

# -- server, and cleanup whatever happens -----------------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/footfall-bench.XXXXXX")
SERVER_PID=""
SERVER_EXIT=""
WATCH_PID=""
PROBE_PID=""
WRK_PID=""

# SIGTERM, then wait up to 30 s for a clean shutdown (SIGKILL after that); sets SERVER_EXIT
stop_server() {
  SERVER_EXIT=""
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 1 300); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    log "server still running 30 s after SIGTERM; sending SIGKILL"
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_EXIT=0
  wait "$SERVER_PID" 2>/dev/null || SERVER_EXIT=$?
  SERVER_PID=""
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  touch "$WORK/stop" 2>/dev/null || true
  for pid in $WRK_PID $PROBE_PID $WATCH_PID; do  # only helpers still running (reset once waited for)
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$SERVER_PID" ]; then
    ! kill -0 "$SERVER_PID" 2>/dev/null || log "stopping the server (SIGTERM to pid $SERVER_PID)"
    stop_server
  fi
  if [ "$status" != 0 ] && [ -f "$WORK/server.log" ]; then
    log "last lines of the server log:"
    tail -n 30 "$WORK/server.log" >&2 || true
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    log "kept $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORT=$("$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
log "starting footfall serve on $URL (data in $WORK/data)"
FOOTFALL_ADMIN_KEY="$TOKEN" FOOTFALL_TRUST_FORWARDED_FOR=true FOOTFALL_LOG_LEVEL=warning \
  FOOTFALL_RATE_LIMIT_PER_PROPERTY=0 FOOTFALL_RATE_LIMIT_PER_KEY=0 \
  "$BIN/footfall" serve --host 127.0.0.1 --port "$PORT" --data-dir "$WORK/data" \
  >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

for _ in $(seq 1 300); do  # up to 30 s
  kill -0 "$SERVER_PID" 2>/dev/null || die "footfall serve exited during start"
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz")" = 200 ] && break
  sleep 0.1
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz")" = 200 ] || die "/readyz not 200 after 30 s"

read -r PROPERTY_ID MEASUREMENT_ID < <(
  curl -sf -H "Authorization: Bearer $TOKEN" "$URL/v1/admin/properties" \
    | "$BIN/python" -c 'import json, sys; p = json.load(sys.stdin)["properties"][0]; print(p["property_id"], p["streams"][0]["measurement_id"])'
) || die "could not list properties"
[ -n "${MEASUREMENT_ID:-}" ] || die "no property found"
log "property $PROPERTY_ID, measurement id $MEASUREMENT_ID"

# -- load, with ack-to-visible probes alongside -----------------------------------------------

"$BIN/python" bench/report.py watch --url "$URL" --pid "$SERVER_PID" --token "$TOKEN" \
  --out "$WORK/timeline.jsonl" --stop-file "$WORK/stop" &
WATCH_PID=$!

PROBE=("$BIN/python" bench/visible.py --url "$URL" --measurement-id "$MEASUREMENT_ID"
       --property-id "$PROPERTY_ID" --token "$TOKEN" --samples "$SAMPLES")

sleep 1  # a baseline point for the timeline
WRK_STARTED_AT=$(date +%s.%N)
# spread the probes over the run (at least 0.3 s apart), from 1 s after wrk starts to 1 s before it ends
WRK_DEADLINE=$(awk -v t="$WRK_STARTED_AT" -v d="$DURATION" 'BEGIN { printf "%.3f", t + d - 1 }')
INTERVAL=$(awk -v d="$DURATION" -v n="$SAMPLES" 'BEGIN { i = (d - 2) / n; printf "%.3f", i < 0.3 ? 0.3 : i }')
"${PROBE[@]}" --label under_load --delay 1 --interval "$INTERVAL" --until "$WRK_DEADLINE" \
  --out "$WORK/visible-load.json" &
PROBE_PID=$!

log "wrk: $THREADS threads, $CONNECTIONS connections, ${DURATION}s"
# in the background and waited for, so that Ctrl-C reaches the trap at once
BENCH_RUN_ID="$TIMESTAMP" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s \
  -s bench/collect.lua "$URL/v1/collect?measurement_id=$MEASUREMENT_ID" >"$WORK/wrk.out" 2>&1 &
WRK_PID=$!
wait "$WRK_PID" || { WRK_PID=""; cat "$WORK/wrk.out" >&2; die "wrk failed"; }
WRK_PID=""
WRK_ENDED_AT=$(date +%s.%N)
cat "$WORK/wrk.out" >&2
server_alive

wait "$PROBE_PID" || log "some probes under load failed (see the report)"
PROBE_PID=""
WRK_ACCEPTED=$(sed -n 's/^BENCH .*accepted=\([0-9]*\).*/\1/p' "$WORK/wrk.out")
[ -n "$WRK_ACCEPTED" ] || die "wrk printed no BENCH line"
LOAD_PROBES=$("$BIN/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["events_accepted"])' \
  "$WORK/visible-load.json")
EXPECTED=$((WRK_ACCEPTED + LOAD_PROBES))

LEFT=$(awk -v t="$WRK_ENDED_AT" -v now="$(date +%s.%N)" -v max="$CATCHUP_TIMEOUT" \
  'BEGIN { left = max - (now - t); printf "%.1f", left < 1 ? 1 : left }')
log "waiting up to ${LEFT}s more for the processor to receive all $EXPECTED accepted events"
"$BIN/python" bench/report.py catchup --url "$URL" --expected "$EXPECTED" --timeout "$LEFT" \
  --token "$TOKEN" \
  || log "the processor did not catch up within ${CATCHUP_TIMEOUT}s of wrk ending"

server_alive
log "ack-to-visible probes on the idle server"
"${PROBE[@]}" --label idle --out "$WORK/visible-idle.json" || log "some idle probes failed"

server_alive
sleep 1  # a last timeline point after the idle probes are processed
touch "$WORK/stop"
wait "$WATCH_PID" || true
WATCH_PID=""

log "stopping the server (SIGTERM to pid $SERVER_PID)"
STOP_STARTED=$(date +%s.%N)
stop_server
SHUTDOWN_S=$(awk -v a="$STOP_STARTED" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
DATA_MB=$(du -sm "$WORK/data" | cut -f1)

mkdir -p "$RESULTS"
"$BIN/python" bench/report.py summary --workdir "$WORK" --out "$RESULTS/$TIMESTAMP.json" \
  --timestamp "$TIMESTAMP" --wrk-started-at "$WRK_STARTED_AT" --wrk-ended-at "$WRK_ENDED_AT" \
  --threads "$THREADS" --connections "$CONNECTIONS" --duration "$DURATION" --data-dir-mb "$DATA_MB" \
  --shutdown-s "$SHUTDOWN_S" --exit-status "$SERVER_EXIT"

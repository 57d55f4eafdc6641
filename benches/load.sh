#!/usr/bin/env bash
# Load benchmark: an unprotected axum server, tower-bearer (cache on and off) and a
# reference server verifying every token with jsonwebtoken + aws-lc-rs and a preloaded
# key, each loaded in turn on 127.0.0.1 with wrk for a bounded time. Prints req/s,
# p50/p99 latency, CPU per request, peak RSS and ratios; then the memory benchmark
# (RSS growth after 100,000 distinct valid tokens with default settings).
#
#   bash benches/load.sh            # DURATION=10 CONNECTIONS=64 by default
#
# Figures are only comparable within one run: the load generator shares the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
DISTINCT="${DISTINCT:-10000}"
MEMORY_TOKENS="${MEMORY_TOKENS:-100000}"

if ! command -v wrk >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
cargo build --release --example bench_server 2>&1 | tail -1
BIN=target/release/examples/bench_server
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

echo "minting $DISTINCT RS256 and $MEMORY_TOKENS ES256 tokens..."
"$BIN" mint "$WORK" "$DISTINCT" "$MEMORY_TOKENS" >/dev/null
cp "$WORK/rs256.txt" "$WORK/rotating.txt"
head -n 1 "$WORK/rs256.txt" > "$WORK/one.txt"

cat > "$WORK/tokens.lua" <<'LUA'
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do tokens[#tokens + 1] = line end
local i = math.random(#tokens)
request = function()
  i = i + 1
  if i > #tokens then i = 1 end
  return wrk.format("GET", "/items", { ["Authorization"] = "Bearer " .. tokens[i] })
end
LUA

# With two or more cores, the server gets core 0 and wrk the rest, so the two do not
# steal each other's time unpredictably.
SERVER_CPU=""; LOAD_CPU=""
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  SERVER_CPU="taskset -c 0"; LOAD_CPU="taskset -c 1-$(($(nproc) - 1))"
fi
WRK_BIN=$(command -v wrk)
wrk() { $LOAD_CPU "$WRK_BIN" "$@"; }

start_server() { # mode -> sets PID and URL
  $SERVER_CPU "$BIN" serve "$1" "$WORK" > "$WORK/server.out" 2>&1 &
  PID=$!
  for _ in $(seq 100); do
    URL=$(sed -n 's/^listening on //p' "$WORK/server.out")
    [ -n "$URL" ] && return 0
    sleep 0.1
  done
  echo "server $1 did not start" >&2; exit 1
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk "/^$2:/ {print \$2}" "/proc/$1/status"; }

printf '\n%-16s %-10s %10s %9s %9s %11s %9s\n' server workload "req/s" p50 p99 "CPU µs/req" "peak MiB"
declare -A RPS
run() { # mode workload tokens-file
  start_server "$1"
  TOKENS="$3" wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -s "$WORK/tokens.lua" "$URL" >/dev/null # warm-up
  local before; before=$(cpu_ticks "$PID")
  TOKENS="$3" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$WORK/tokens.lua" "$URL" > "$WORK/wrk.out"
  local after; after=$(cpu_ticks "$PID")
  local rps p50 p99 total non2xx
  rps=$(awk '/^Requests\/sec/ {print $2}' "$WORK/wrk.out")
  p50=$(awk '$1 == "50%" {print $2}' "$WORK/wrk.out")
  p99=$(awk '$1 == "99%" {print $2}' "$WORK/wrk.out")
  total=$(awk '/requests in/ {print $1}' "$WORK/wrk.out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$WORK/wrk.out")
  if [ -n "$non2xx" ]; then echo "!! $1/$2: $non2xx non-2xx responses" >&2; fi
  local cpu; cpu=$(awk -v t=$((after - before)) -v n="$total" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", t / hz / n * 1e6}')
  local peak; peak=$(awk -v k="$(rss_kib "$PID" VmHWM)" 'BEGIN {printf "%.1f", k / 1024}')
  printf '%-16s %-10s %10.0f %9s %9s %11s %9s\n' "$1" "$2" "$rps" "$p50" "$p99" "$cpu" "$peak"
  RPS["$1/$2"]=$rps
  kill "$PID"; wait "$PID" 2>/dev/null || true
}

run unprotected    repeated "$WORK/one.txt"
run bearer         repeated "$WORK/one.txt"
run bearer         rotating "$WORK/rotating.txt"
run bearer-nocache repeated "$WORK/one.txt"
run reference      repeated "$WORK/one.txt"

ratio() { awk -v a="${RPS[$1]}" -v b="${RPS[$2]}" 'BEGIN {printf "%.2f", a / b}'; }
echo
echo "ratios (same run):"
echo "  repeated token, cache on   / unprotected : $(ratio bearer/repeated unprotected/repeated)   (target >= 0.90)"
echo "  10,000 rotating tokens     / unprotected : $(ratio bearer/rotating unprotected/repeated)   (target >= 0.85)"
echo "  every token verified       / reference   : $(ratio bearer-nocache/repeated reference/repeated)   (target >= 1.10)"

echo
echo "memory: RSS growth after $MEMORY_TOKENS distinct valid tokens (default settings)"
start_server bearer
TOKENS="$WORK/one.txt" wrk -t1 -c4 -d1s -s "$WORK/tokens.lua" "$URL" >/dev/null
base=$(rss_kib "$PID" VmRSS)
# Every token at least once: in order, one connection per thread, until all were sent.
split -n l/2 "$WORK/es256.txt" "$WORK/part_"
loaders=()
for part in "$WORK"/part_a?; do
  n=$(wc -l < "$part")
  cat > "$part.lua" <<LUA
local tokens = {}
for line in io.lines("$part") do tokens[#tokens + 1] = line end
local i = 0
request = function()
  i = i + 1
  if i > #tokens then wrk.thread:stop() end
  return wrk.format("GET", "/items", { ["Authorization"] = "Bearer " .. tokens[math.min(i, #tokens)] })
end
LUA
  wrk -t1 -c1 -d120s -s "$part.lua" "$URL" > /dev/null &
  loaders+=($!)
done
wait "${loaders[@]}"
after=$(rss_kib "$PID" VmRSS)
awk -v a="$after" -v b="$base" 'BEGIN {printf "  RSS %.1f MiB -> %.1f MiB: growth %.1f MiB (target <= 64)\n", b/1024, a/1024, (a-b)/1024}'
kill "$PID"

#!/usr/bin/env bash
# Load benchmark, measured as services are deployed: every server runs on tokio's default
# multi-threaded runtime, unpinned, with the same router and body (`GET /items`, "ok").
# Each protected server is run alternately with the unprotected one (A B A B ...,
# PAIRS times) under the same wrk load, and the table reports medians and the median
# of the per-pair ratios, so drift on the machine hits both sides of every ratio.
#
#   bash benches/load.sh                     # PAIRS=5 DURATION=5 CONNECTIONS=32 THREADS=1
#   PINNED=1 bash benches/load.sh            # second view: server on core 0, wrk on the rest
#   ONLY='bearer/(repeated|rot10k)' MEMORY=0 bash benches/load.sh   # some rows, no memory check
#
# Workloads: one repeated RS256 token; 10 000 rotating (fits the verified-token cache);
# 100 000 rotating (more than the cache holds); every token verified cold (cache off).
# Servers: tower-bearer with defaults and a `scope` requirement, the same with the cache
# off, a layer that does nothing (what any layer costs in an axum router), and two
# hand-written references: jsonwebtoken with a pre-parsed key verifying every
# request, and the same with a moka map of verified tokens keyed by the token string.
# Then the memory check: RSS growth after 100 000 distinct valid tokens.
#
# Figures are only comparable within one run: wrk shares the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

PAIRS="${PAIRS:-5}"
DURATION="${DURATION:-5}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-1}"
MANY="${MANY:-100000}"

if ! command -v wrk >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
cargo build --release --example bench_server 2>&1 | tail -1
BIN=target/release/examples/bench_server
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

echo "minting $MANY RS256 and $MANY ES256 tokens..."
"$BIN" mint "$WORK" "$MANY" "$MANY" >/dev/null
head -n 1 "$WORK/rs256.txt" > "$WORK/one.txt"
head -n 10000 "$WORK/rs256.txt" > "$WORK/rot10k.txt"
cp "$WORK/rs256.txt" "$WORK/rot100k.txt"

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

SERVER_CPU=""; LOAD_CPU=""
if [ "${PINNED:-0}" = 1 ] && [ "$(nproc)" -ge 2 ]; then
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

# One measurement: prints "req/s cpu-µs/req p99".
measure() { # mode tokens-file
  start_server "$1"
  TOKENS="$2" wrk -t"$THREADS" -c"$CONNECTIONS" -d1s -s "$WORK/tokens.lua" "$URL" >/dev/null # warm-up
  local before after
  before=$(cpu_ticks "$PID")
  TOKENS="$2" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$WORK/tokens.lua" "$URL" > "$WORK/wrk.out"
  after=$(cpu_ticks "$PID")
  kill "$PID"; wait "$PID" 2>/dev/null || true
  if grep -q "Non-2xx" "$WORK/wrk.out"; then
    echo "!! $1 on $(basename "$2"): $(awk '/Non-2xx/ {print $NF}' "$WORK/wrk.out") non-2xx answers" >&2
  fi
  awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" '
    /^Requests\/sec/ {rps = $2}
    /requests in/ {n = $1}
    $1 == "99%" {p99 = $2}
    END {printf "%.0f %.1f %s\n", rps, t / hz / n * 1e6, p99}' "$WORK/wrk.out"
}

# The median of a space-separated list of numbers.
median() { tr ' ' '\n' <<< "$1" | grep . | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

declare -A RATIO RPS CPU
printf '\n%-15s %-9s %9s %9s %7s %11s %10s  %s\n' server workload "req/s" "base r/s" ratio "CPU µs/req" "base CPU" "ratios per pair"
pair() { # mode workload tokens-file
  [[ -n "${ONLY:-}" && ! "$1/$2" =~ $ONLY ]] && return 0
  local ratios="" rps="" base="" cpu="" base_cpu="" a b c d
  for _ in $(seq "$PAIRS"); do
    read -r b d _ < <(measure unprotected "$3")
    read -r a c _ < <(measure "$1" "$3")
    ratios+="$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.3f", a / b}') "
    rps+="$a "; base+="$b "; cpu+="$c "; base_cpu+="$d "
  done
  RATIO[$1/$2]=$(median "$ratios")
  RPS[$1/$2]=$(median "$rps")
  CPU[$1/$2]=$(median "$cpu")
  printf '%-15s %-9s %9.0f %9.0f %7.3f %11.1f %10.1f  %s\n' "$1" "$2" "${RPS[$1/$2]}" \
    "$(median "$base")" "${RATIO[$1/$2]}" "${CPU[$1/$2]}" "$(median "$base_cpu")" "$ratios"
}

pair passthrough    repeated "$WORK/one.txt"
pair bearer         repeated "$WORK/one.txt"
pair reference-moka repeated "$WORK/one.txt"
pair bearer         rot10k   "$WORK/rot10k.txt"
pair reference-moka rot10k   "$WORK/rot10k.txt"
pair bearer         rot100k  "$WORK/rot100k.txt"
pair reference-moka rot100k  "$WORK/rot100k.txt"
pair bearer-nocache cold     "$WORK/rot100k.txt"
pair reference      cold     "$WORK/rot100k.txt"

ratio_of() { awk -v a="${RATIO[$1]:-}" -v b="${RATIO[$2]:-}" 'BEGIN {if (a == "" || b == "") print "-"; else printf "%.2f", a / b}'; }
echo
echo "targets (medians of the per-pair ratios, one run):"
echo "  repeated token        / unprotected      : ${RATIO[bearer/repeated]:--}   (>= 0.92)"
echo "  10 000 rotating       / unprotected      : ${RATIO[bearer/rot10k]:--}   (>= 0.88)"
echo "  100 000 rotating      / every token cold : $(ratio_of bearer/rot100k bearer-nocache/cold)   (>= 1.00)"
echo "  every token cold      / jsonwebtoken     : $(ratio_of bearer-nocache/cold reference/cold)   (>= 1.10)"
for w in repeated rot10k rot100k; do
  echo "  $w: layer / moka reference            : $(ratio_of "bearer/$w" "reference-moka/$w")   (>= 1.00)"
done

[ "${MEMORY:-1}" = 1 ] || exit 0
echo
echo "memory: RSS growth after $MANY distinct valid tokens (default settings)"
start_server bearer
TOKENS="$WORK/one.txt" wrk -t1 -c4 -d1s -s "$WORK/tokens.lua" "$URL" >/dev/null
base=$(rss_kib "$PID" VmRSS)
# Every token at least once: in order, one connection per thread, until all were sent.
split -n l/2 "$WORK/es256.txt" "$WORK/part_"
loaders=()
for part in "$WORK"/part_a?; do
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

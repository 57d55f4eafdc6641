#!/usr/bin/env bash
# Cold ES256 and EdDSA verification against the crypto floor (the signature check alone,
# aws-lc-rs with a parsed key) and jsonwebtoken: time per verification, then
# instructions per verification counted by callgrind, which a busy machine does not
# change. Under valgrind, aws-lc picks its generic code paths (valgrind hides some CPU
# features), so compare instruction counts with each other, not with the timings.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench crypto_floor --no-run 2>&1 | tail -1
BIN=$(ls -t target/release/deps/crypto_floor-* | grep -v '\.d$' | head -1)
"$BIN"
if ! command -v valgrind >/dev/null; then
  echo "valgrind not installed: no instruction counts" >&2
  exit 0
fi
N=200
echo "instructions per verification (callgrind, $N verifications)"
for alg in ES256 EdDSA; do
  line="  $alg"
  for what in floor ours jsonwebtoken; do
    total=$(valgrind --tool=callgrind --toggle-collect='*measured_*' --callgrind-out-file=/dev/null \
      "$BIN" "$what" "$alg" "$N" 2>&1 | awk '/Collected/ {print $NF}')
    line+=$(awk -v t="$total" -v n="$N" -v w="$what" 'BEGIN {printf "   %s %.0f k", w, t / n / 1000}')
  done
  echo "$line"
done

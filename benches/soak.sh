#!/usr/bin/env bash
# The long version of tests/crash.rs's randomized kill test: `couple --apply` with
# synchronization and creates on, against the emulator injecting 503s (requests and $batch parts),
# 429s and dropped connections, SIGKILLed after a random number of requests and rerun until it
# finishes — ROUNDS rounds per seed, for SEEDS seeds, RECORDS customers each. Every round's end
# state (Dataverse rows, the store's couplings, nothing pending) must equal a fault-free run.
#
#   benches/soak.sh                  # 5 seeds x 10 rounds x 300 records
#   SEEDS=20 ROUNDS=20 RECORDS=2000 benches/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS="${SEEDS:-5}" ROUNDS="${ROUNDS:-10}" RECORDS="${RECORDS:-300}"
cargo test --locked --test crash --no-run >/dev/null 2>&1
start=$(date +%s)
failed=0
for seed in $(seq 1 "$SEEDS"); do
  if ! out=$(COUPLER_KILL_SEED="$seed" COUPLER_KILL_ROUNDS="$ROUNDS" COUPLER_KILL_RECORDS="$RECORDS" \
      cargo test --locked --test crash random_kills -- --nocapture 2>&1); then
    failed=$((failed + 1))
    echo "seed $seed FAILED:"; echo "$out" | grep -A8 panicked
  else
    echo "$out" | grep "^kill test:"
  fi
done
echo "soak: $SEEDS seed(s) x $ROUNDS round(s), $RECORDS records, $(( $(date +%s) - start )) s, $failed failed seed(s)"
[ "$failed" = 0 ]

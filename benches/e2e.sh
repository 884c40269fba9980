#!/usr/bin/env bash
# End-to-end benchmark of `coupler couple`: generate N × N records (once), then time the whole
# dry run — read both CSVs, match three priority levels, write every output — with
# /usr/bin/time: 1 warm-up + RUNS timed runs; report median wall time, peak memory, and the
# peak memory as a multiple of the two input files' size.
#
#   benches/e2e.sh [N]            # default N = 1000000
#   COMPARE=1 benches/e2e.sh      # also run DuckDB and polars on the same files (benches/compare)
#
# Environment: RUNS (default 3), SEED (default 1), THREADS (default: all cores).
set -euo pipefail

N=${1:-1000000}
RUNS=${RUNS:-3}
SEED=${SEED:-1}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/target/release/coupler
DATA=$ROOT/target/bench-data/e2e-$N-seed$SEED
TIME=/usr/bin/time
[[ -x $TIME ]] || { echo "$TIME (GNU time) is required: apt-get install time" >&2; exit 1; }

echo "== building (release)" >&2
(cd "$ROOT" && cargo build --release --locked --quiet)

if [[ ! -f $DATA/coupling.toml ]]; then
    echo "== generating $N records into $DATA" >&2
    "$BIN" generate --records "$N" --seed "$SEED" --out "$DATA" >&2
fi
input_bytes=$(( $(stat -c %s "$DATA/customers.csv") + $(stat -c %s "$DATA/accounts.csv") ))

thread_args=()
[[ -n ${THREADS:-} ]] && thread_args=(--threads "$THREADS")

run() {
    "$TIME" -f "%e %M" -o "$DATA/time.txt" \
        "$BIN" couple --config "$DATA/coupling.toml" --out "$DATA/coupler-out" --json "${thread_args[@]}" \
        > "$DATA/job.json"
    cat "$DATA/time.txt"
}

echo "== coupler couple: 1 warm-up + $RUNS runs" >&2
run > /dev/null
: > "$DATA/runs.txt"
for _ in $(seq "$RUNS"); do run >> "$DATA/runs.txt"; done

python3 - "$DATA" "$input_bytes" "$N" <<'PY'
import json, statistics, sys, os
data, input_bytes, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
runs = [tuple(map(float, l.split())) for l in open(os.path.join(data, "runs.txt")) if l.strip()]
wall = statistics.median(r[0] for r in runs)
rss_mb = max(r[1] for r in runs) / 1024
job = json.load(open(os.path.join(data, "job.json")))[0]
t = job["timings_ms"]
print(f"machine: {os.cpu_count()} cores; {n:,} x {n:,} records; input {input_bytes/1e6:.0f} MB")
print(f"wall (median of {len(runs)}): {wall:.2f} s   runs: {', '.join(f'{r[0]:.2f}' for r in runs)}")
print(f"peak RSS: {rss_mb:.0f} MB = {rss_mb*2**20/input_bytes:.2f} x input")
print(f"last run: read {t['read']} ms, match {t['match']} ms, write {t['write']} ms")
print("  engine phases (ms): " + ", ".join(f"{k.split('_',1)[1]} {v/1000:.0f}" for k, v in t["match_phases_us"].items()))
print("  outcomes: " + ", ".join(f"{k} {v:,}" for k, v in job["outcomes"].items()))
PY

if [[ -n ${COMPARE:-} ]]; then
    echo "== DuckDB and polars on the same files (benches/compare/run.sh)" >&2
    COUPLER=$BIN RUNS=$RUNS "$ROOT/benches/compare/run.sh" "$DATA"
fi

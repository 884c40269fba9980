#!/usr/bin/env bash
# Time the cumulative coupling cascade in DuckDB and polars (cascade.py) -- and coupler itself
# when $COUPLER names its binary -- on the same data directory.
#
#   benches/compare/run.sh DIR
#
# DIR holds customers.csv, accounts.csv, couplings.csv and coupling.toml (as written by
# `coupler generate`). Each tool: 1 warm-up run + 3 timed runs under /usr/bin/time -f "%e %M".
#
# Environment:
#   COUPLER             path of a coupler binary (e.g. target/release/coupler): also time
#                       `$COUPLER couple --config DIR/coupling.toml --out DIR/coupler-out`
#   COUPLER_BENCH_VENV  venv to use/create (default: <repo>/target/bench-venv)
#   LEVELS              passed to cascade.py --levels (default: the criteria of DIR/coupling.toml)
#   RUNS                timed runs per tool (default 3)
#   PYTHON              interpreter used to create the venv (default python3)
set -euo pipefail

if [[ $# -ne 1 || ! -d $1 ]]; then
    echo "usage: $0 DIR   (DIR with customers.csv, accounts.csv, couplings.csv, coupling.toml)" >&2
    exit 2
fi
DIR=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VENV=${COUPLER_BENCH_VENV:-$ROOT/target/bench-venv}
RUNS=${RUNS:-3}
TIME=/usr/bin/time
# versions the numbers in docs/performance.md were measured with
PINS=(duckdb==2.0.1 polars==2.1.0 polars-runtime-32==2.1.0)

[[ -x $TIME ]] || { echo "$TIME (GNU time) is required" >&2; exit 1; }

# ---- venv (created once; re-used while it has the pinned versions)
if ! "$VENV/bin/python" - "${PINS[@]}" >/dev/null 2>&1 <<'EOF'
import sys
from importlib.metadata import version
for pin in sys.argv[1:]:
    name, want = pin.split("==")
    assert version(name) == want, pin
EOF
then
    echo "creating venv $VENV (${PINS[*]})" >&2
    "${PYTHON:-python3}" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}"
fi
PY=$VENV/bin/python

OUT=$DIR/compare-out
mkdir -p "$OUT"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

level_args=()
[[ -n ${LEVELS:-} ]] && level_args=(--levels "$LEVELS")

# run_tool NAME CMD... : warm-up + $RUNS timed runs; leaves $TMP/NAME.times ("wall rss" lines)
# and, for cascade.py, $TMP/NAME.jsonl (its JSON line of each timed run)
run_tool() {
    local name=$1; shift
    local i
    : >"$TMP/$name.times"
    : >"$TMP/$name.jsonl"
    for ((i = 0; i <= RUNS; i++)); do
        [[ $name == coupler ]] && rm -rf "$DIR/coupler-out"
        if ! "$TIME" -f "%e %M" -o "$TMP/$name.time1" "$@" >"$TMP/$name.stdout" 2>"$TMP/$name.stderr"; then
            echo "$name failed (run $i):" >&2
            cat "$TMP/$name.stderr" >&2
            return 1
        fi
        if ((i > 0)); then
            tail -n 1 "$TMP/$name.time1" >>"$TMP/$name.times"
            [[ $name == coupler ]] || tail -n 1 "$TMP/$name.stdout" >>"$TMP/$name.jsonl"
        fi
        echo "  $name run $i: $(tail -n 1 "$TMP/$name.time1") (wall s, max RSS KiB)" >&2
    done
}

tools=()
for engine in duckdb polars; do
    echo "$engine ..." >&2
    run_tool "$engine" "$PY" "$HERE/cascade.py" --engine "$engine" --dir "$DIR" \
        ${level_args[@]+"${level_args[@]}"} --out "$OUT/$engine-results.csv"
    tools+=("$engine")
done

if [[ -n ${COUPLER:-} ]]; then
    [[ -x $COUPLER ]] || { echo "COUPLER=$COUPLER is not executable" >&2; exit 1; }
    echo "coupler ..." >&2
    run_tool coupler "$COUPLER" couple --config "$DIR/coupling.toml" --out "$DIR/coupler-out"
    tools+=(coupler)
fi

# ---- table
"$PY" - "$TMP" "$DIR" "${tools[@]}" <<'EOF'
import csv, glob, json, os, statistics, sys
tmp, d, tools = sys.argv[1], sys.argv[2], sys.argv[3:]
KEYS = ["coupled", "no_match", "multiple_matches", "already_coupled", "skipped"]
COLS = ["local_id", "outcome", "integration_id", "priority", "match_count"]

def coupler_csv():
    found = sorted(glob.glob(os.path.join(d, "coupler-out", "*", "results.csv")))
    if len(found) != 1:
        sys.exit(f"expected one coupler-out/*/results.csv, found {found}")
    return found[0]

def results(path):
    with open(path, encoding="utf-8-sig", newline="") as f:
        for r in csv.DictReader(f):
            yield tuple(r[c] for c in COLS), r

rows = {}
for t in tools:
    times = [tuple(map(float, l.split())) for l in open(f"{tmp}/{t}.times") if l.strip()]
    wall = statistics.median(w for w, _ in times)
    rss = max(r for _, r in times) / 1024
    counts, inproc = {}, None
    if t == "coupler":
        for k, _ in results(coupler_csv()):
            counts[k[1]] = counts.get(k[1], 0) + 1
    else:
        js = [json.loads(l) for l in open(f"{tmp}/{t}.jsonl") if l.strip()]
        counts, inproc = js[-1]["counts"], statistics.median(j["wall_s"] for j in js)
    rows[t] = (wall, rss, inproc, counts)
print(f"data: {d}   timed runs: {len(times)} (median wall, max RSS over them)")
hdr = f"{'engine':<8} {'wall s':>7} {'in-proc s':>9} {'RSS MB':>8}  " + " ".join(f"{k:>16}" for k in KEYS)
print(hdr); print("-" * len(hdr))
for t, (wall, rss, inproc, counts) in rows.items():
    ip = f"{inproc:.2f}" if inproc is not None else "-"
    print(f"{t:<8} {wall:>7.2f} {ip:>9} {rss:>8.0f}  " + " ".join(f"{counts.get(k, '?'):>16}" for k in KEYS))
if "coupler" in rows:
    cw, cr = rows["coupler"][0], rows["coupler"][1]
    for t in ("duckdb", "polars"):
        w, r = rows[t][0], rows[t][1]
        ratio = f"x{w / cw:.2f}" if cw > 0 else "n/a (coupler under /usr/bin/time's 0.01 s resolution)"
        print(f"{t}/coupler: wall {ratio}, RSS x{r / cr:.2f}")
    base = {k: rows["coupler"][3].get(k) for k in KEYS}
    for t in ("duckdb", "polars"):
        same = all(rows[t][3].get(k) == base[k] for k in KEYS)
        print(f"{t} outcome counts {'==' if same else '!='} coupler's")
    # per-record check: the columns cascade.py writes, against coupler's results.csv
    ref = [k for k, _ in results(coupler_csv())]
    for t in ("duckdb", "polars"):
        got = [k for k, _ in results(os.path.join(d, "compare-out", f"{t}-results.csv"))]
        diff = [(a, b) for a, b in zip(ref, got) if a != b]
        print(f"{t} vs coupler results.csv ({', '.join(COLS)}): {len(ref)} vs {len(got)} rows, "
              f"{len(diff)} differing" + (f"; first: coupler {diff[0][0]} / {t} {diff[0][1]}" if diff else ""))
print("in-proc s = median read + match + write measured inside cascade.py (no interpreter start/imports)")
EOF

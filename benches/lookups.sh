#!/usr/bin/env bash
# End-to-end benchmark of a lookup criterion (`via`): the generated CONTACT mapping (company
# through the CUSTOMER couplings at priority 0, name at 1, e-mail at 2) against the same job
# without the company criterion (the field stays mapped, as a plain code field that is not
# matched on: both jobs read and check the same columns). CUSTOMER is coupled into a store first (--apply), so the
# lookup translates through the store, as a `--mapping CONTACT` run in production does.
#
#   benches/lookups.sh [RECORDS] [LOCAL_CONTACTS]   # defaults: 570000 customers, 1000000 contacts
#
# The generator writes about 2.1 contacts per customer on each side; the BC contacts are cut to
# LOCAL_CONTACTS rows, so the defaults give 1M BC contacts against about 1.2M Dataverse contacts.
# Each configuration gets 1 warm-up and RUNS timed runs (default 3), interleaved.
set -euo pipefail

RECORDS=${1:-570000}
LOCAL=${2:-1000000}
RUNS=${RUNS:-3}
SEED=${SEED:-1}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/target/release/coupler
DATA=$ROOT/target/bench-data/lookups-$RECORDS-$LOCAL-seed$SEED
TIME=/usr/bin/time
[[ -x $TIME ]] || { echo "$TIME (GNU time) is required: apt-get install time" >&2; exit 1; }

echo "== building (release)" >&2
(cd "$ROOT" && cargo build --release --locked --quiet)

if [[ ! -f $DATA/with.toml ]]; then
    echo "== generating $RECORDS customers into $DATA" >&2
    rm -rf "$DATA"
    "$BIN" generate --records "$RECORDS" --seed "$SEED" --out "$DATA" >&2
    head -n "$((LOCAL + 1))" "$DATA/bc_contacts.csv" > "$DATA/bc_contacts.cut" \
        && mv "$DATA/bc_contacts.cut" "$DATA/bc_contacts.csv"
    cp "$DATA/coupling.toml" "$DATA/with.toml"
    # The same mapping without the company criterion: the field loses `via` and `match`.
    python3 - "$DATA" <<'PY'
import sys, os
data = sys.argv[1]
text = open(os.path.join(data, "with.toml")).read()
field = 'integration = "_parentcustomerid_value"\ntype = "code"\nvia = "CUSTOMER"\nmatch = true\npriority = 0\n'
assert field in text, "the CONTACT lookup field"
plain = 'integration = "_parentcustomerid_value"\ntype = "code"\n'
open(os.path.join(data, "without.toml"), "w").write(text.replace(field, plain))
PY
    echo "== coupling CUSTOMER into the store" >&2
    "$BIN" couple --config "$DATA/with.toml" --mapping CUSTOMER --apply --out "$DATA/customer-out" --json > /dev/null
fi
# Both configs read the same store (store = coupler.db beside them); a dry run never writes it.
echo "machine: $(nproc) cores; BC contacts $(($(wc -l < "$DATA/bc_contacts.csv") - 1)), Dataverse contacts $(($(wc -l < "$DATA/dv_contacts.csv") - 1))"

run() {
    "$TIME" -f "%e %M" -o "$DATA/time-$1.txt" \
        "$BIN" couple --config "$DATA/$1.toml" --mapping CONTACT --out "$DATA/out-$1" --json \
        > "$DATA/job-$1.json"
    cat "$DATA/time-$1.txt"
}

run with > /dev/null
run without > /dev/null
: > "$DATA/runs-with.txt"
: > "$DATA/runs-without.txt"
for _ in $(seq "$RUNS"); do
    run with >> "$DATA/runs-with.txt"
    run without >> "$DATA/runs-without.txt"
done

python3 - "$DATA" <<'PY'
import json, statistics, sys, os
data = sys.argv[1]
def report(name):
    runs = [tuple(map(float, l.split())) for l in open(os.path.join(data, f"runs-{name}.txt")) if l.strip()]
    job = json.load(open(os.path.join(data, f"job-{name}.json")))[0]
    wall = statistics.median(r[0] for r in runs)
    t = job["timings_ms"]
    print(f"{name:8} wall median {wall:.2f} s (runs {', '.join(f'{r[0]:.2f}' for r in runs)}), "
          f"peak {max(r[1] for r in runs)/1024:.0f} MB; read {t['read']} ms, match {t['match']} ms, write {t['write']} ms")
    print(f"         outcomes: " + ", ".join(f"{k} {v:,}" for k, v in job["outcomes"].items() if v))
    for l in job.get("lookups", []):
        print(f"         lookup {l['field']} via {l['via']}: {l['couplings']:,} couplings, {l['not_coupled']:,} keys not coupled")
    return wall
w, wo = report("with"), report("without")
print(f"with / without: {w / wo:.2f} x")
PY

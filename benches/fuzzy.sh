#!/usr/bin/env bash
# Benchmark of criteria beyond BC: generate N × N noisy records (`coupler generate --noise`,
# once), then time `coupler couple` end to end with
#   - "fuzzy-blocked": level 0 phone digits (exact, normalized), level 1 name Jaro-Winkler
#     (normalized, sorted-neighbourhood blocking) — one exact and one fuzzy level;
#   - "fuzzy-city":    level 1 is name Jaro-Winkler AND city exact (the fuzzy criterion
#     narrows the city's candidates, no blocking);
# and finally `criteria compare --truth` of BC-exact against both, for recall and precision.
#
#   benches/fuzzy.sh [N]        # default N = 100000
#
# Environment: RUNS (default 3), SEED (default 1).
set -euo pipefail

N=${1:-100000}
RUNS=${RUNS:-3}
SEED=${SEED:-1}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/target/release/coupler
DATA=$ROOT/target/bench-data/fuzzy-$N-seed$SEED
TIME=/usr/bin/time
[[ -x $TIME ]] || { echo "$TIME (GNU time) is required: apt-get install time" >&2; exit 1; }

echo "== building (release)" >&2
(cd "$ROOT" && cargo build --release --locked --quiet)

if [[ ! -f $DATA/coupling.toml ]]; then
    echo "== generating $N noisy records into $DATA" >&2
    "$BIN" generate --records "$N" --seed "$SEED" --out "$DATA" --noise >&2
fi

# The generated mapping (sources, filters, couplings) with other fields.
head=$(sed -n '1,/^\[\[mappings.fields\]\]/p' "$DATA/coupling.toml" | sed '$d' \
    | sed 's/^\[mappings.local\]/priority_mode = "independent"\n\n[mappings.local]/')
fields_blocked='
[[mappings.fields]]
local = "Phone No."
integration = "telephone1"
match = true
priority = 0
normalize = ["digits"]

[[mappings.fields]]
local = "Name"
integration = "name"
match = true
priority = 1
normalize = ["legal_form", "remove_punctuation", "collapse_whitespace", "strip_accents"]
compare = "jaro_winkler"
'
fields_city='
[[mappings.fields]]
local = "City"
integration = "address1_city"
match = true
priority = 1
'
printf '%s\n%s' "$head" "$fields_blocked" > "$DATA/fuzzy-blocked.toml"
printf '%s\n%s%s' "$head" "$fields_blocked" "$fields_city" > "$DATA/fuzzy-city.toml"

for config in fuzzy-blocked fuzzy-city; do
    : > "$DATA/runs-$config.txt"
    for _ in $(seq "$RUNS"); do
        "$TIME" -f "%e %M" -o "$DATA/time.txt" "$BIN" couple --config "$DATA/$config.toml" \
            --out "$DATA/out-$config" --json > "$DATA/job-$config.json"
        cat "$DATA/time.txt" >> "$DATA/runs-$config.txt"
    done
    python3 - "$DATA" "$config" "$N" <<'PY'
import json, statistics, sys, os
data, config, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
runs = [tuple(map(float, l.split())) for l in open(os.path.join(data, f"runs-{config}.txt")) if l.strip()]
job = json.load(open(os.path.join(data, f"job-{config}.json")))[0]
t = job["timings_ms"]
print(f"{config}: {n:,} x {n:,}, {os.cpu_count()} cores: wall median {statistics.median(r[0] for r in runs):.2f} s "
      f"(runs {', '.join(f'{r[0]:.2f}' for r in runs)}), peak RSS {max(r[1] for r in runs)/1024:.0f} MB; "
      f"read {t['read']} ms, match {t['match']} ms, write {t['write']} ms; coupled {job['outcomes']['coupled']:,}")
PY
done

cat > "$DATA/variants.toml" <<EOF
[[variants]]
name = "fuzzy-blocked"
priority_mode = "independent"
$(echo "$fields_blocked" | sed 's/mappings.fields/variants.fields/; s/^match = true$//')

[[variants]]
name = "fuzzy-city"
priority_mode = "independent"
$(echo "$fields_blocked$fields_city" | sed 's/mappings.fields/variants.fields/; s/^match = true$//')
EOF
echo "== criteria compare --truth (BC-exact vs both)" >&2
(cd "$DATA" && "$BIN" criteria compare --config coupling.toml --mapping CUSTOMER \
    --variants variants.toml --truth truth.csv --out "$DATA/compare-out")

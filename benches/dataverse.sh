#!/usr/bin/env bash
# Reading the integration side from Dataverse: the bulk strategy (whole table, 5000 rows a page)
# against the lookup strategy (Microsoft.Dynamics.CRM.In queries for the local values), on the
# local Dataverse emulator with service-protection limits ON (6000 requests / 300 s, 52
# concurrent). Reports requests, retries, throttled answers and wall time of each, for N × N
# generated records and for a small selection (SMALL local records against the same N).
#
#   benches/dataverse.sh [N]        # default N = 50000; SMALL (default 200)
set -euo pipefail

N=${1:-50000}
SMALL=${SMALL:-200}
SEED=${SEED:-1}
PORT=${PORT:-18181}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/target/release/coupler
EMU=$ROOT/target/release/dataverse-emulator
DATA=$ROOT/target/bench-data/dataverse-$N-seed$SEED
TIME=/usr/bin/time
[[ -x $TIME ]] || { echo "$TIME (GNU time) is required: apt-get install time" >&2; exit 1; }

echo "== building (release)" >&2
(cd "$ROOT" && cargo build --release --locked --quiet -p coupler -p dataverse-emulator)

if [[ ! -f $DATA/coupling.toml ]]; then
    echo "== generating $N records into $DATA" >&2
    "$BIN" generate --records "$N" --seed "$SEED" --out "$DATA" >&2
fi
head -n $((SMALL + 1)) "$DATA/customers.csv" > "$DATA/customers-small.csv"

export COUPLER_BENCH_SECRET=bench-secret-not-for-production
cat > "$DATA/emulator.toml" <<TOML
listen = "127.0.0.1:$PORT"
tenant_id = "bench.onmicrosoft.com"
[[clients]]
client_id = "11111111-2222-3333-4444-555555555555"
secret_env = "COUPLER_BENCH_SECRET"
[[tables]]
logical_name = "account"
entity_set = "accounts"
primary_id = "accountid"
primary_name = "name"
csv = "accounts.csv"
[tables.types]
statecode = "State"
customertypecode = "Picklist"
TOML

# Service protection stays on (the binary's default): this is what a real environment does.
# --background returns once the emulator serves (or fails with its error), so no polling here.
"$EMU" --config "$DATA/emulator.toml" --background --log "$DATA/emulator.log" > "$DATA/emulator.out"
EMU_PID=$(sed -n 's/^Running in the background as process \([0-9]*\);.*/\1/p' "$DATA/emulator.out")
trap 'kill $EMU_PID 2>/dev/null || true' EXIT

config() { # $1 strategy, $2 local csv → config path
    local out=$DATA/coupling-$1-$(basename "$2" .csv).toml
    sed -e "s|^csv = \"accounts.csv\"|dataverse_table = \"accounts\"\nread_strategy = \"$1\"|" \
        -e "s|^csv = \"customers.csv\"|csv = \"$(basename "$2")\"|" \
        -e '/^key = "accountid"/d' "$DATA/coupling.toml" > "$out"
    cat >> "$out" <<TOML

[dataverse]
url = "http://127.0.0.1:$PORT"
authority = "http://127.0.0.1:$PORT"
tenant_id = "bench.onmicrosoft.com"
client_id = "11111111-2222-3333-4444-555555555555"
client_secret_env = "COUPLER_BENCH_SECRET"
TOML
    echo "$out"
}

printf '%-8s %-10s %9s %9s %8s %10s %9s %9s\n' local strategy requests retries throttled integ_rows coupled wall_s
for local in customers.csv customers-small.csv; do
    rows=$(( $(wc -l < "$DATA/$local") - 1 ))
    for strategy in bulk lookup; do
        cfg=$(config "$strategy" "$DATA/$local")
        "$TIME" -f "%e" -o "$DATA/time.txt" "$BIN" couple --config "$cfg" --out "$DATA/out-$strategy" --json > "$DATA/job-$strategy.json"
        python3 - "$DATA/job-$strategy.json" "$(cat "$DATA/time.txt")" "$rows" "$strategy" <<'PY'
import json, sys
job = json.load(open(sys.argv[1]))[0]
h = job["http"]
print(f'{sys.argv[3]:<8} {sys.argv[4]:<10} {h["requests"]:>9} {h["retries"]:>9} {h["throttled"]:>8} '
      f'{job["integration_records_read"]:>10} {job["outcomes"]["coupled"]:>9} {sys.argv[2]:>9}')
PY
    done
    cmp -s "$DATA/out-bulk/CUSTOMER/results.csv" "$DATA/out-lookup/CUSTOMER/results.csv" \
        && echo "         results.csv identical for both strategies" \
        || echo "         results.csv DIFFERS between strategies (bug)"
done
levels=$(grep -c '^priority' "$DATA/coupling.toml" || true)
echo "BC itself: one query per record and priority level: up to $((N * levels)) requests for $N records;"
echo "at 6000 requests per 300 s that is at least $((N * levels / 6000 * 5)) minutes of throttled work."

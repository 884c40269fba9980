#!/usr/bin/env bash
# Fuzzing with cargo-fuzz (libFuzzer + AddressSanitizer, debug assertions on) on the nightly
# toolchain; the rest of the project stays on stable. The targets live in fuzz/ (its own
# workspace, excluded from the root one):
#   csv_tokenizer   the CSV reader against the `csv` crate (differential)
#   config          the config loader (Plan::load, [[variants]], profile's field list)
#   odata_filter    the emulator's $filter parser and evaluator
#   batch_request   the emulator's $batch handler (multipart parser, parts run)
#   batch_response  the Dataverse client's $batch answer handling (write_batch, loopback stub)
#
#   benches/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   # default 60 s, every target
#   benches/fuzz.sh --cmin [TARGET...]                 # minimise what runs found into fuzz/corpus/
#
# Each target starts from its committed corpus (fuzz/corpus/<target>/) plus the seeds of
# fuzz/seeds.py when they were written, with the dictionary fuzz/dicts/<target>.dict; what a
# run adds goes to fuzz/corpus-work/<target>/ (not committed; --cmin merges it into the corpus,
# minimised). A crash, panic, timeout (10 s) or out-of-memory input fails the run: the script
# goes on with the other targets, then lists each crashing input (fuzz/artifacts/<target>/…)
# with the command that replays it, and exits 1.
# cargo-fuzz is installed (cargo install --locked) when missing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FUZZ=$ROOT/fuzz
ALL=(csv_tokenizer config odata_filter batch_request batch_response)

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz.sh: the nightly toolchain is required (rustup toolchain install nightly)" >&2
    exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

cmin=false
if [[ ${1:-} == --cmin ]]; then
    cmin=true
    shift
    seconds=0
elif [[ ${1:-} =~ ^[0-9]+$ ]]; then
    seconds=$1
    shift
else
    seconds=60
fi
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${ALL[@]}")

cd "$FUZZ"
echo "== building the fuzz targets ($(cargo +nightly --version))" >&2
if [[ ${#targets[@]} -eq 1 ]]; then
    cargo +nightly fuzz build "${targets[0]}" >&2
else
    cargo +nightly fuzz build >&2
fi

if $cmin; then
    for t in "${targets[@]}"; do
        mkdir -p "corpus/$t"
        for extra in "corpus-work/$t" "seeds/$t"; do
            if [[ -d $extra ]]; then
                cp -n "$extra"/* "corpus/$t/" 2>/dev/null || true
            fi
        done
        echo "== cmin $t: $(find "corpus/$t" -type f | wc -l) inputs" >&2
        # The smallest set of inputs covering the same edges (hit counts aside): a few hundred
        # small files per target instead of thousands.
        cargo +nightly fuzz cmin "$t" "corpus/$t" -- -set_cover_merge=1 -use_counters=0 \
            >"target/cmin-$t.log" 2>&1 ||
            { tail -20 "target/cmin-$t.log" >&2; exit 1; }
        echo "   kept $(find "corpus/$t" -type f | wc -l) inputs, $(du -sh --apparent-size "corpus/$t" | cut -f1)" >&2
    done
    exit 0
fi

mkdir -p target/fuzz-logs
failed=()
summary=()
for t in "${targets[@]}"; do
    mkdir -p "corpus-work/$t" "corpus/$t" "artifacts/$t"
    dirs=("corpus-work/$t" "corpus/$t")
    [[ -d seeds/$t ]] && dirs+=("seeds/$t")
    dict=()
    [[ -f dicts/$t.dict ]] && dict=("-dict=dicts/$t.dict")
    log=target/fuzz-logs/$t.log
    before=$(find "artifacts/$t" -type f | sort)
    echo "== fuzzing $t for ${seconds}s" >&2
    status=0
    cargo +nightly fuzz run "$t" "${dirs[@]}" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 "${dict[@]}" >"$log" 2>&1 ||
        status=$?
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)
    runs=$(sed -nE 's/^stat::number_of_executed_units:[[:space:]]*([0-9]+).*/\1/p' "$log" | tail -1)
    cov=$(sed -nE 's/.* cov: ([0-9]+) ft: ([0-9]+) corp: ([0-9]+).*/cov \1, features \2, corpus \3/p' \
        <<<"${done_line:-$(grep -E ' cov: ' "$log" | tail -1)}")
    if [[ $status -ne 0 ]]; then
        new=$(comm -13 <(echo "$before") <(find "artifacts/$t" -type f | sort) | sed '/^$/d')
        grep -E "panicked at|^SUMMARY|ERROR: libFuzzer" -A3 "$log" | head -12 >&2 || true
        for a in $new; do
            failed+=("$t: fuzz/$a   (replay: cd fuzz && cargo +nightly fuzz run $t $a)")
        done
        [[ -n $new ]] || failed+=("$t: exit status $status, no artifact; see fuzz/$log")
        summary+=("$t: FAILED after ${runs:-?} runs; $cov")
    else
        summary+=("$t: ${seconds}s, ${runs:-?} runs, $cov, no crash")
    fi
    echo "   ${summary[-1]}" >&2
done

echo "== fuzzing summary (logs in fuzz/target/fuzz-logs/)"
printf '   %s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "== crashing inputs:"
    printf '   %s\n' "${failed[@]}"
    exit 1
fi

#!/usr/bin/env bash
# Runs every cargo-fuzz (libFuzzer) target of fuzz/ for a bounded time each (docs/FUZZING.md).
#
#   bash scripts/fuzz.sh [SECONDS] [--report]
#
# SECONDS per target: 30 by default (the CI smoke run); 600 is the long run. FUZZ_TARGETS
# (space-separated) picks some of the targets. With --report the results table in
# docs/FUZZING.md is rewritten from the latest log of every target (fuzz/target/logs/<t>.log), so
# a run of some targets keeps the others' last figures.
#
# Installs cargo-fuzz if it is missing, needs the nightly toolchain, runs under `nice -n 19`, and
# stops by itself: each run is bounded by libFuzzer's -max_total_time and by `timeout`
# (SECONDS + 300 s, for building a changed target). Exits non-zero if any target crashes, fails
# an assertion, exceeds the RSS limit or spends over 10 s on one input; the reproducer is then
# in fuzz/artifacts/<target>/ (see docs/FUZZING.md for turning it into a regression test).
#
# Corpora: the committed seeds fuzz/corpus/<target>/seed-* are only read; what libFuzzer finds
# goes to fuzz/target/corpus/<target>/ (git-ignored) and is reused by the next run.
set -euo pipefail

SECS=30
REPORT=0
for a in "$@"; do
  case "$a" in
    --report) REPORT=1 ;;
    ''|*[!0-9]*) echo "usage: bash scripts/fuzz.sh [SECONDS] [--report]" >&2; exit 2 ;;
    *) SECS="$a" ;;
  esac
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
ALL=(content_type wire auth_header decryptor stored_state mimi_content)
read -r -a TARGETS <<<"${FUZZ_TARGETS:-${ALL[*]}}"
# Largest input per target: a little past each parser's own bound, so the bound itself is hit.
declare -A MAX_LEN=([content_type]=5000 [wire]=4096 [auth_header]=12000 [decryptor]=12288 [stored_state]=16384 [mimi_content]=12288)
LOGS="fuzz/target/logs"
NICE=(nice -n 19)

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz.sh: the nightly toolchain is required (rustup toolchain install nightly)" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz" >&2
  "${NICE[@]}" cargo install cargo-fuzz --locked || "${NICE[@]}" cargo install cargo-fuzz
fi

# One results-table row from a target's latest log (libFuzzer's final status line:
# "#N DONE cov: C ft: F corp: U/S lim: L exec/s: E rss: R" and "Done N runs in T second(s)").
row() {
  local t="$1" log="$LOGS/$1.log" last execs secs eps cov ft corp when status
  [ -f "$log" ] || { echo "| \`$t\` | not run | | | | | | | |"; return; }
  last="$(grep -E '^#[0-9]+[[:space:]]+(DONE|NEW|REDUCE|pulse|INITED)' "$log" | tail -n 1 || true)"
  execs="$(sed -nE 's/^stat::number_of_executed_units:[[:space:]]*([0-9]+)/\1/p' "$log" | tail -n 1)"
  [ -n "$execs" ] || execs="$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last")"
  secs="$(sed -nE 's/^Done [0-9]+ runs in ([0-9]+) second.*/\1/p' "$log" | tail -n 1)"
  eps="$(sed -nE 's/.*exec\/s: ([0-9]+).*/\1/p' <<<"$last")"
  cov="$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$last")"
  ft="$(sed -nE 's/.*ft: ([0-9]+).*/\1/p' <<<"$last")"
  corp="$(sed -nE 's/.*corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$last")"
  when="$(date -u -r "$log" +%Y-%m-%dT%H:%MZ)"
  if grep -qE '^SUMMARY: libFuzzer|^==[0-9]+== ERROR|panicked at' "$log"; then
    status="**crash** (fuzz/artifacts/$t/)"
  elif [ -n "$secs" ]; then
    status="0 crashes"
  else
    status="**did not finish**"
  fi
  echo "| \`$t\` | $when | ${secs:-?} s | ${execs:-?} | ${eps:-?} | ${cov:-?} | ${ft:-?} | ${corp:-?} | $status |"
}

mkdir -p "$LOGS"
echo "fuzz.sh: building the targets" >&2
(cd fuzz && "${NICE[@]}" cargo +nightly fuzz build)

FAILED=()
for t in "${TARGETS[@]}"; do
  [ -n "${MAX_LEN[$t]:-}" ] || { echo "fuzz.sh: unknown target $t (known: ${ALL[*]})" >&2; exit 2; }
  mkdir -p "fuzz/target/corpus/$t" "fuzz/artifacts/$t"
  log="$LOGS/$t.log"
  before="$(find "fuzz/artifacts/$t" -type f | wc -l)"
  echo "fuzz.sh: $t for ${SECS}s (log: $log)" >&2
  rc=0
  (cd fuzz && timeout --kill-after=30 $((SECS + 300)) "${NICE[@]}" cargo +nightly fuzz run "$t" \
      "target/corpus/$t" "corpus/$t" -- \
      -max_total_time="$SECS" -max_len="${MAX_LEN[$t]}" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1) >"$log" 2>&1 || rc=$?
  new="$(( $(find "fuzz/artifacts/$t" -type f | wc -l) - before ))"
  r="$(row "$t")"
  echo "fuzz.sh: $r" >&2
  # The verdict comes from libFuzzer's exit status (non-zero on a crash, a failed assertion, a
  # timeout or the RSS limit; 124/137 when `timeout` stopped it) and from new crash files; the
  # table row above is only for people.
  if [ "$rc" -ne 0 ] || [ "$new" -gt 0 ]; then
    echo "fuzz.sh: $t FAILED: exit $rc, $new new artifact(s) in fuzz/artifacts/$t/; see $log" >&2
    FAILED+=("$t")
  else
    echo "fuzz.sh: target $t clean" >&2
  fi
done

if [ "$REPORT" -eq 1 ]; then
  doc="docs/FUZZING.md"
  begin='<!-- fuzz-results:begin -->'
  end='<!-- fuzz-results:end -->'
  if ! grep -qF "$begin" "$doc" || ! grep -qF "$end" "$doc"; then
    echo "fuzz.sh: $doc lacks the $begin / $end markers" >&2
    exit 1
  fi
  TABLE="$(
    echo "Written by \`bash scripts/fuzz.sh $SECS --report\` on $(nproc) shared cores under \`nice -n 19\`,"
    echo "$(cargo +nightly --version), $(cargo fuzz --version); each row is the target's latest run."
    echo
    echo "| target | finished (UTC) | time | executions | exec/s | cov | ft | corpus (units/bytes) | result |"
    echo "|---|---|---|---|---|---|---|---|---|"
    for t in "${ALL[@]}"; do row "$t"; done
  )"
  tmp="$(mktemp)"
  TABLE="$TABLE" awk -v b="$begin" -v e="$end" '
    $0 == b { print; print ENVIRON["TABLE"]; skip = 1; next }
    $0 == e { skip = 0 }
    !skip { print }' "$doc" >"$tmp"
  cat "$tmp" >"$doc"
  rm -f "$tmp"
  echo "fuzz.sh: wrote the results table to $doc" >&2
fi

if [ "${#FAILED[@]}" -gt 0 ]; then
  echo "fuzz.sh: FAILED: ${FAILED[*]}" >&2
  exit 1
fi
echo "fuzz.sh: ${TARGETS[*]}: clean for ${SECS}s each" >&2

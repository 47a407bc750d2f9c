#!/usr/bin/env bash
# Fuzzes the wire codec and every message handler under libFuzzer, with coverage feedback.
#   tools/fuzz.sh [SECONDS_PER_TARGET] [TARGET ...]     (make fuzz FUZZ_SECONDS=600)
# Seeds come from `tessera fuzz --write-seeds`; the corpus grows in out/fuzz/corpus/TARGET
# (kept between runs) and findings land in out/fuzz/findings/TARGET/. Keep each finding,
# once fixed, in Tests/FuzzTests/Regressions/TARGET/ so the test suite replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
shift || true
targets=${*:-codec worker coordinator client ring}

swift build -c release --product tessera >/dev/null
swift build -c release --scratch-path .build-fuzz --product tessera-fuzz \
    -Xswiftc -sanitize=fuzzer -Xswiftc -DTESSERA_LIBFUZZER >/dev/null
tessera=$(swift build -c release --show-bin-path)/tessera
fuzzer=$(swift build -c release --scratch-path .build-fuzz --show-bin-path)/tessera-fuzz
"$tessera" fuzz --write-seeds out/fuzz/seeds >/dev/null

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
found=0
for target in $targets; do
    mkdir -p "out/fuzz/corpus/$target" "out/fuzz/findings/$target"
    log="out/fuzz/$target.log"
    # Swift's own backtracer would take the crash signal from libFuzzer, which then could
    # not save the input.
    if SWIFT_BACKTRACE=enable=no TESSERA_FUZZ_TARGET=$target "$fuzzer" -max_total_time="$seconds" -print_final_stats=1 \
        -artifact_prefix="out/fuzz/findings/$target/" -timeout=20 -rss_limit_mb=4096 \
        "out/fuzz/corpus/$target" "out/fuzz/seeds/$target" >"$log" 2>&1; then
        verdict="no finding"
    else
        verdict="FINDING: see $log and out/fuzz/findings/$target/"
        found=1
    fi
    runs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
    cov=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -1 | grep -o 'cov: [0-9]*' || true)
    echo "$target: ${runs:-?} executions in ${seconds} s, ${cov:-cov: ?} edges, $verdict"
done
exit $found

#!/usr/bin/env bash
# Benchmarks supervise against the C original, side by side in one run.
#
#  1. Private memory of one supervise: Private_Dirty from
#     /proc/PID/smaps_rollup, median over N supervised services (default 50).
#  2. Latency from `svc -d` to svstat showing the service down while it
#     crash-loops (run = exit 1), over T trials (default 20); beside it
#     the floor, the same two commands on the service once down, which is
#     what starting them costs (most of the figure for ours).
#  3. Private memory of ours with readiness and finish in use
#     (notification-fd, a finish script), against the C figure of 1.
#  4. Readiness to `svc -wR` returning: the run script stamps the time just
#     before it writes its readiness line; svc -wR -t restarts it and
#     returns on the U event (ours only: the C supervise has no readiness).
#
# Usage: bench/supervise.sh [N] [T]     (REF_BIN=dir to use given C binaries)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/reference.sh"
N=${1:-50}
T=${2:-20}

(cd "$here/.." && cargo build --release --quiet -p supervise)
OURS=${OURS_BIN:-"$here/../target/release"}
REF=$(ref_bin)
work=$(mktemp -d)
cleanup() {
    for d in "$work"/*/s* "$work"/*-crash "$work"/rust-ready; do "$OURS/svc" -dx "$d" 2>/dev/null || true; done
    sleep 1
    rm -rf "$work"
}
trap cleanup EXIT


memory() { # $1 = bin dir, $2 = tag, $3 = "ext" for readiness and finish
    local bin=$1 tag=$2 ext=${3:-} pids=()
    mkdir -p "$work/$tag"
    for i in $(seq 1 "$N"); do
        d="$work/$tag/s$i"
        mkdir -p "$d"
        if [ "$ext" = ext ]; then
            printf '#!/bin/sh\necho >&3\nexec sleep 100000\n' > "$d/run"
            printf '#!/bin/sh\nexit 0\n' > "$d/finish"
            chmod +x "$d/finish"
            echo 3 > "$d/notification-fd"
        else
            printf '#!/bin/sh\nexec sleep 100000\n' > "$d/run"
        fi
        chmod +x "$d/run"
        "$bin/supervise" "$d" </dev/null >/dev/null 2>&1 &
        pids+=($!)
    done
    for i in $(seq 1 "$N"); do
        until "$OURS/svok" "$work/$tag/s$i" 2>/dev/null; do sleep 0.01; done
        if [ "$ext" = ext ]; then "$OURS/svwait" -U -t 5000 "$work/$tag/s$i"; fi
    done
    for p in "${pids[@]}"; do
        awk '/^Private_Dirty:/ {print $2}' "/proc/$p/smaps_rollup"
    done | median
}

now_ns() { date +%s%N; }

# After a pause of 0.1-0.9 s (a different phase of the crash loop each
# time), the microseconds from `svc -d` to svstat showing DIR down,
# appended to FILE.
down_after_pause() { # $1 = DIR, $2 = FILE
    sleep "0.$((RANDOM % 9 + 1))"
    local t0 t1
    t0=$(now_ns)
    "$OURS/svc" -d "$1"
    until [[ $("$OURS/svstat" "$1") =~ :\ down\ [0-9]+\ seconds,\ normally\ up$ ]]; do :; done
    t1=$(now_ns)
    echo $(((t1 - t0) / 1000)) >> "$2"
}

latency() { # $1 = bin dir, $2 = tag; prints the median ms and the floor's
    local bin=$1 tag=$2
    local d="$work/$tag-crash"
    mkdir -p "$d"
    printf '#!/bin/sh\nexit 1\n' > "$d/run"
    chmod +x "$d/run"
    "$bin/supervise" "$d" </dev/null >/dev/null 2>&1 &
    until "$OURS/svok" "$d" 2>/dev/null; do sleep 0.01; done
    for i in $(seq 1 "$T"); do
        "$OURS/svc" -u "$d"
        down_after_pause "$d" "$work/$tag-lat"
        # The floor: the same commands on the service already down
        # (nothing for supervise to do): what starting svc and svstat
        # costs on this machine at that moment.
        down_after_pause "$d" "$work/$tag-floor"
    done
    for f in lat floor; do median < "$work/$tag-$f" | awk '{printf "%.1f ", $1 / 1000}'; done
}

readiness() { # prints the median ms from the readiness line to svc -wR returning
    local d="$work/rust-ready"
    mkdir -p "$d"
    printf '#!/bin/sh\nsleep 0.2\ndate +%%s%%N > ready_at\necho >&3\nexec sleep 100000\n' > "$d/run"
    chmod +x "$d/run"
    echo 3 > "$d/notification-fd"
    "$OURS/supervise" "$d" </dev/null >/dev/null 2>&1 &
    until "$OURS/svok" "$d" 2>/dev/null; do sleep 0.01; done
    "$OURS/svwait" -U "$d"
    for i in $(seq 1 "$T"); do
        sleep 1.1 # past supervise's one-start-per-second throttle
        "$OURS/svc" -wR -T 5000 -t "$d"
        t1=$(now_ns)
        echo $(((t1 - $(cat "$d/ready_at")) / 1000))
    done | median | awk '{printf "%.1f\n", $1 / 1000}'
}

echo "supervise benchmark: $N services for memory, $T trials for latency"
c_mem=$(memory "$REF" c)
r_mem=$(memory "$OURS" rust)
printf 'private memory per supervise (median KB): C %s  ours %s  ratio %.2f (goal <= 1.5)\n' \
    "$c_mem" "$r_mem" "$(awk -v a="$r_mem" -v b="$c_mem" 'BEGIN {print a / b}')"
read -r c_lat c_floor <<< "$(latency "$REF" c)"
read -r r_lat r_floor <<< "$(latency "$OURS" rust)"
printf 'svc -d to svstat down in a crash loop (median ms): C %s  ours %s  ratio %.3f (goal: ours <= 10 ms)\n' \
    "$c_lat" "$r_lat" "$(awk -v a="$r_lat" -v b="$c_lat" 'BEGIN {print a / b}')"
printf '  the floor, the same svc -d and svstat on the service already down (median ms): %s beside C, %s beside ours\n' \
    "$c_floor" "$r_floor"
e_mem=$(memory "$OURS" rust-ext ext)
printf 'private memory per supervise with readiness and finish in use (median KB): C (plain) %s  ours %s  ratio %.2f (goal <= 1.5)\n' \
    "$c_mem" "$e_mem" "$(awk -v a="$e_mem" -v b="$c_mem" 'BEGIN {print a / b}')"
ready=$(readiness)
printf 'readiness line to svc -wR returning (median ms, ours; includes starting date): %s (goal <= 10 ms)\n' "$ready"

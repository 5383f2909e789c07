#!/usr/bin/env bash
# Benchmarks svscan against the C original, side by side in one run: the
# time from starting svscan on a tree of N services (default 200) until
# svstat shows every one of them up. Each program runs its own supervise.
#
# Runs alternate (C, ours, C, ours, ...) R times (default 3); medians printed.
#
# Usage: bench/svscan.sh [N] [R]     (REF_BIN=dir to use given C binaries,
#                                     OURS_BIN=dir ours, e.g. the static build)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/reference.sh"
N=${1:-200}
R=${2:-3}

(cd "$here/.." && cargo build --release --quiet -p supervise -p svscan)
OURS=${OURS_BIN:-"$here/../target/release"}
REF=$(ref_bin)
work=$(mktemp -d)
scanpid=
cleanup() {
    [ -n "$scanpid" ] && kill "$scanpid" 2>/dev/null || true
    "$OURS/svc" -dx "$work"/*/* 2>/dev/null || true
    sleep 1
    rm -rf "$work"
}
trap cleanup EXIT

now_ns() { date +%s%N; }

bring_up() { # $1 = bin dir, $2 = tag; prints seconds
    local bin=$1 tag=$2
    local root="$work/$tag-$RANDOM"
    sleep_tree "$root" "$N"
    t0=$(now_ns)
    PATH="$bin:$PATH" "$bin/svscan" "$root" </dev/null >/dev/null 2>&1 &
    scanpid=$!
    until [ "$("$OURS/svstat" "$root"/* | grep -c ': up (pid ')" -eq "$N" ]; do sleep 0.01; done
    t1=$(now_ns)
    kill "$scanpid"
    scanpid=
    "$OURS/svc" -dx "$root"/*
    # Let the services and supervisors go before the next run.
    until [ "$("$OURS/svstat" "$root"/* | grep -c ': supervise not running')" -eq "$N" ]; do sleep 0.05; done
    awk -v ns=$((t1 - t0)) 'BEGIN {printf "%.3f\n", ns / 1e9}'
}

cs=() rs=()
for _ in $(seq 1 "$R"); do
    cs+=("$(bring_up "$REF" c)")
    rs+=("$(bring_up "$OURS" rust)")
done
echo "runs: C ${cs[*]}  ours ${rs[*]}"
c=$(printf '%s\n' "${cs[@]}" | median)
r=$(printf '%s\n' "${rs[@]}" | median)
printf 'svscan: %s services up in svstat (median s): C %s  ours %s  ratio %.2f (goal <= 1)\n' \
    "$N" "$c" "$r" "$(awk -v a="$r" -v b="$c" 'BEGIN {print a / b}')"

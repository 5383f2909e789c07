#!/usr/bin/env bash
# svscan with many services (ours; the C svscan stops at 1000): the time
# from starting svscan on a tree of N services until svstat shows every one
# up, for each N given (default 1000 2500 5000 10000), the time per
# service, and then, with the largest tree up and idle, the CPU svscan
# spends over IDLE seconds (default 30: six rescans) as a share of one CPU.
# Each tree is then shut down with SIGTERM (the time is printed).
# The side-by-side comparison with C at 1000 is bench/svscan.sh 1000.
#
# Usage: bench/svscan-scale.sh [N...]     (IDLE=seconds)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/reference.sh"
IDLE=${IDLE:-30}
[ $# -gt 0 ] || set -- 1000 2500 5000 10000

(cd "$here/.." && cargo build --release --quiet -p supervise -p svscan)
OURS="$here/../target/release"
work=$(mktemp -d)
scanpid=
root=
# TERM to svscan: it shuts its tree down in order; prints how long it took.
stop_tree() {
    [ -n "$scanpid" ] || return 0
    local t0 t1
    t0=$(now_ns)
    kill -TERM "$scanpid" 2>/dev/null || true
    wait "$scanpid" 2>/dev/null || true
    t1=$(now_ns)
    scanpid=
    awk -v ns=$((t1 - t0)) 'BEGIN {printf "        SIGTERM to svscan exit: %.2f s\n", ns / 1e9}'
}
trap 'stop_tree; rm -rf "$work"' EXIT
now_ns() { date +%s%N; }

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

up_count() {
    find "$root" -mindepth 1 -maxdepth 1 -type d -print0 |
        xargs -0 -r -n 2000 "$OURS/svstat" | grep -c ': up (pid ' || true
}

for n in "$@"; do
    stop_tree
    root="$work/t$n"
    sleep_tree "$root" "$n"
    t0=$(now_ns)
    PATH="$OURS:$PATH" "$OURS/svscan" "$root" </dev/null >/dev/null 2>&1 &
    scanpid=$!
    # Polled every 50 ms per 1000 services: each poll reads every status
    # file, so a fixed interval would make the bench's own work grow as
    # N x time and compete with the bring-up on a small machine.
    interval=$(awk -v n="$n" 'BEGIN { i = 0.05 * n / 1000; if (i < 0.05) i = 0.05; print i }')
    until [ "$(up_count)" -eq "$n" ]; do sleep "$interval"; done
    t1=$(now_ns)
    awk -v n="$n" -v ns=$((t1 - t0)) \
        'BEGIN {printf "%6d services: all up in %.2f s, %.0f us per service\n", n, ns / 1e9, ns / 1e3 / n}'
done
hz=$(getconf CLK_TCK)
a=$(ticks "$scanpid")
sleep "$IDLE"
b=$(ticks "$scanpid")
awk -v t=$((b - a)) -v hz="$hz" -v s="$IDLE" -v n="$n" \
    'BEGIN {printf "idle, %d services: svscan used %.2f s of CPU in %d s: %.2f%% of one CPU (goal < 1%%)\n", n, t / hz, s, 100 * t / hz / s}'

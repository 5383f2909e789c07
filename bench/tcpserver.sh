#!/usr/bin/env bash
# Benchmarks tcpserver against the C original, side by side in one run:
# connections per second with `-RHl0 -x rules.cdb`, eight concurrent
# clients reading a three-byte reply to end of file, the child a tiny static
# program; and the ceiling, a program that only spawns and reaps that child
# with eight in flight, measured three ways: posix_spawn, fork + exec (the
# usual ways to start a program, against which the goal of 95% and never
# below C is set), and clone(CLONE_VM) + exec without the vfork wait (the
# way our tcpserver starts programs, shown for comparison: what is left
# between it and the server is the TCP work, which no spawn-only program
# does). Needs gcc (for the three small C helpers).
#
# Each is measured in turn R times (default 5), each for SECONDS (default
# 3); the medians are printed, since a two-core machine running the
# clients, the server and the children at once gives noisy single runs.
#
# With PIN=1 the server and its children run on CPU 0 and the clients on
# CPU 1 (taskset), so that the clients' work does not count against the
# server; the ceiling is then measured on CPU 0 too.
#
# Usage: [PIN=1] bench/tcpserver.sh [SECONDS] [R]     (REF_BIN=dir to use given C binaries)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/reference.sh"
S=${1:-3}
R=${2:-5}

cargo build --release --quiet --manifest-path "$here/../Cargo.toml" -p tcpserver -p tcprules
OURS="$here/../target/release"
REF=$(ref_bin)
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

gcc -O2 -static -o "$work/child" "$here/tcpserver/child.c"
gcc -O2 -pthread -o "$work/load" "$here/tcpserver/load.c"
gcc -O2 -o "$work/ceiling" "$here/tcpserver/ceiling.c"
printf '127.0.0.1:allow,X="y"\n:deny\n' | "$OURS/tcprules" "$work/rules.cdb" "$work/rules.tmp"

server_cpu=() client_cpu=()
if [ "${PIN:-0}" = 1 ]; then
    server_cpu=(taskset -c 0)
    client_cpu=(taskset -c 1)
fi

serve() { # $1 = bin dir; prints connections/s
    "${server_cpu[@]}" "$1/tcpserver" -1 -RHl0 -x "$work/rules.cdb" -c 40 -b 100 127.0.0.1 0 "$work/child" > "$work/port" 2>/dev/null &
    local pid=$!
    pids+=("$pid")
    until [ -s "$work/port" ]; do sleep 0.01; done
    "${client_cpu[@]}" "$work/load" "$(cat "$work/port")" 8 "$S"
    kill "$pid"
    rm -f "$work/port"
}

methods=(spawn fork clone)
declare -A ks
cs=() rs=()
for _ in $(seq 1 "$R"); do
    for m in "${methods[@]}"; do
        ks[$m]+="$("${server_cpu[@]}" "$work/ceiling" "$m" "$work/child" 8 "$S") "
    done
    cs+=("$(serve "$REF")")
    rs+=("$(serve "$OURS")")
done
declare -A k
for m in "${methods[@]}"; do
    k[$m]=$(printf '%s\n' ${ks[$m]} | median)
    echo "runs: ceiling by $m ${ks[$m]}(median ${k[$m]})"
done
echo "runs: C ${cs[*]}; ours ${rs[*]}"
c=$(printf '%s\n' "${cs[@]}" | median)
r=$(printf '%s\n' "${rs[@]}" | median)
pct() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f%%", 100 * a / b}'; }
ratios() { echo "$(pct "$1" "${k[spawn]}") of posix_spawn, $(pct "$1" "${k[fork]}") of fork, $(pct "$1" "${k[clone]}") of clone"; }
echo "spawn-and-reap ceilings (8 in flight, medians): posix_spawn ${k[spawn]}/s, fork ${k[fork]}/s, clone ${k[clone]}/s"
echo "C tcpserver:   ${c}/s = $(ratios "$c")"
echo "our tcpserver: ${r}/s = $(ratios "$r"); $(awk -v a="$r" -v b="$c" 'BEGIN {printf "%.2f", a / b}')x C"
echo "goal: at least 95% of the posix_spawn and fork ceilings, never below C"

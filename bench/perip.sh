#!/usr/bin/env bash
# Benchmarks the per-IP limits and CIDR rules (docs/rules.md):
#
#  1. Our tcpserver with `-C 5` against the same without `-C`, in the same
#     run, alternating: connections per second, eight clients each from its
#     own loopback address (127.0.0.1 to .8), the tiny static child, rules
#     that allow 127.0.0.0/8. Goal: within 5%.
#  2. tcprules compiling 100,000 lines with CIDR rules (ours) against the C
#     tcprules compiling 100,000 plain lines. Goal: ours no slower.
#
# Usage: bench/perip.sh [SECONDS] [R]   (REF_BIN=dir for the C binaries,
#        OURS_BIN=dir for another build of ours). Needs gcc.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/reference.sh"
S=${1:-3}
R=${2:-5}

(cd "$here/.." && cargo build --release --quiet -p tcpserver -p tcprules)
OURS=${OURS_BIN:-"$here/../target/release"}
REF=$(ref_bin)
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

gcc -O2 -static -o "$work/child" "$here/tcpserver/child.c"
gcc -O2 -pthread -o "$work/load" "$here/tcpserver/load.c"
printf '127.0.0.0/8:allow,X="y"\n:deny\n' | "$OURS/tcprules" "$work/rules.cdb" "$work/rules.tmp"

serve() { # $@ = extra options; prints connections/s
    "$OURS/tcpserver" -1 -RHl0 "$@" -x "$work/rules.cdb" -c 40 -b 100 127.0.0.1 0 "$work/child" > "$work/port" 2>/dev/null &
    local pid=$!
    pids+=("$pid")
    until [ -s "$work/port" ]; do sleep 0.01; done
    "$work/load" "$(cat "$work/port")" 8 "$S" 1
    kill "$pid"
    rm -f "$work/port"
}

plain=() limited=()
for _ in $(seq 1 "$R"); do
    plain+=("$(serve)")
    limited+=("$(serve -C 5)")
done
p=$(printf '%s\n' "${plain[@]}" | median)
l=$(printf '%s\n' "${limited[@]}" | median)
echo "runs: without -C ${plain[*]}; with -C 5 ${limited[*]}"
echo "tcpserver, 8 clients from 8 addresses: without -C ${p}/s, with -C 5 ${l}/s: $(awk -v a="$l" -v b="$p" 'BEGIN {printf "%.3f", a / b}') (goal: at least 0.95)"

# 100,000 lines each: plain ones for the C tcprules; for ours the same
# number of lines, three in four of them CIDR blocks (/24, /16, /32: one key
# each, all different, as many records as the plain file makes; a /20
# would make 16).
awk 'BEGIN { for (i = 0; i < 100000; i++)
    printf "10.%d.%d.%d:allow,N=\"%d\"\n", int(i / 65536), int(i / 256) % 256, i % 256, i }' > "$work/plain.rules"
awk 'BEGIN { for (i = 0; i < 100000; i++) { j = int(i / 4)
    if (i % 4 == 0) printf "10.%d.%d.0/24:allow,N=\"%d\"\n", int(j / 256), j % 256, i
    else if (i % 4 == 1) printf "%d.%d.0.0/16:allow,N=\"%d\"\n", 20 + int(j / 256), j % 256, i
    else if (i % 4 == 2) printf "11.%d.%d.%d/32:allow,N=\"%d\"\n", int(j / 65536), int(j / 256) % 256, j % 256, i
    else printf "12.%d.%d.%d:allow,N=\"%d\"\n", int(j / 65536), int(j / 256) % 256, j % 256, i } }' > "$work/cidr.rules"
time_ms() { # $1 = tcprules, $2 = input; prints ms to 0.1 ms
    local t0 t1
    t0=$(date +%s%N)
    "$1" "$work/out.cdb" "$work/out.tmp" < "$2"
    t1=$(date +%s%N)
    awk -v d=$((t1 - t0)) 'BEGIN {printf "%.1f", d / 1000000}'
}
# A run takes about 20 ms: 4R runs each, alternating, for a steadier median.
cr=() rr=()
for _ in $(seq 1 $((4 * R))); do
    cr+=("$(time_ms "$REF/tcprules" "$work/plain.rules")")
    rr+=("$(time_ms "$OURS/tcprules" "$work/cidr.rules")")
done
c=$(printf '%s\n' "${cr[@]}" | median)
r=$(printf '%s\n' "${rr[@]}" | median)
echo "runs: C tcprules (plain) ${cr[*]} ms; ours (CIDR) ${rr[*]} ms"
echo "tcprules, 100,000 lines: C on plain lines ${c} ms, ours on CIDR lines ${r} ms: $(awk -v a="$r" -v b="$c" 'BEGIN {printf "%.2f", a / b}')x (goal: at most 1.0)"

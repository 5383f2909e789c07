#!/usr/bin/env bash
# Benchmarks tcpserver against the C original, side by side in one run:
# connections per second with `-RHl0 -x rules.cdb`, eight concurrent
# clients reading a three-byte reply to end of file, the child a tiny static
# program; and the ceiling, a program that only spawns and reaps that child
# with eight in flight, measured three ways: posix_spawn, fork + exec (the
# usual ways to start a program, against which the goal of 95% and never
# below C is set), and clone(CLONE_VM) + exec without the vfork wait (the
# way the launcher that the runtime replaced started programs, kept for
# comparison). And the bound for any server: a C program that only accepts and
# posix_spawns the child on the connection (bench/tcpserver/ideal.c: no
# rules, environment, signals or log), which pays the accept and the
# child's TCP work that the ceilings do not. Needs gcc (for the small C
# helpers).
#
# Our tcpserver under -RHl0 starts the program from the parent: with
# posix_spawn when it may run on one CPU (PIN=1), by fork + exec otherwise.
#
# Each is measured in turn R times (default 5), each for SECONDS (default
# 3); the medians are printed, since a two-core machine running the
# clients, the server and the children at once gives noisy single runs.
#
# With PIN=1 the server and its children run on CPU 0 and the clients on
# CPU 1 (taskset), so that the clients' work does not count against the
# server; the ceiling is then measured on CPU 0 too.
#
# With CHILD=dynamic the child is `/bin/echo hi` (dynamically linked: the
# exec and the loader cost what real programs cost) instead of the tiny
# static one, for the servers and the ceilings alike.
#
# With BIG=1, ours is also measured with a 30 MB rules.cdb (120,000 rules
# for other addresses, plus the one that matches) against the small rules
# file: the cost per connection of the big file over the small, where the
# parent reads the rules (-RHl0) and where a forked child does (-vRHl0:
# -v keeps the work in the child, its lines go to /dev/null).
#
# With PARENT=1 (needs perf), the CPU time and page faults of the server
# process alone (perf stat -i: not its children) per connection are also
# printed, medians, for the bound, C and ours: what limits a server whose
# accept loop has a CPU of its own, on a machine with more cores.
#
# Usage: [PIN=1] [CHILD=dynamic] [BIG=1] [PARENT=1] bench/tcpserver.sh [SECONDS] [R]
#        (OURS_BIN=dir to measure other builds of ours)
#        (REF_BIN=dir to use given C binaries)
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
gcc -O2 -o "$work/ceiling" "$here/tcpserver/ceiling.c"
gcc -O2 -o "$work/ideal" "$here/tcpserver/ideal.c"
printf '127.0.0.1:allow,X="y"\n:deny\n' | "$OURS/tcprules" "$work/rules.cdb" "$work/rules.tmp"
child=("$work/child")
if [ "${CHILD:-static}" = dynamic ]; then
    child=(/bin/echo hi)
fi
if [ "${BIG:-0}" = 1 ]; then
    awk 'BEGIN { for (i = 0; i < 120000; i++)
        printf "10.%d.%d.%d:allow,PAD=\"%0200d\"\n", int(i / 65536), int(i / 256) % 256, i % 256, i
        print "127.0.0.1:allow,X=\"y\""; print ":deny" }' |
        "$OURS/tcprules" "$work/big.cdb" "$work/big.tmp"
    echo "big rules.cdb: $(stat -c %s "$work/big.cdb") bytes"
fi

server_cpu=() client_cpu=()
if [ "${PIN:-0}" = 1 ]; then
    server_cpu=(taskset -c 0)
    client_cpu=(taskset -c 1)
fi

measure() { # label server command...: starts it, runs the clients; prints connections/s
    local label=$1
    shift
    "${server_cpu[@]}" "$@" > "$work/port" 2>/dev/null &
    local pid=$! perf=
    pids+=("$pid")
    until [ -s "$work/port" ]; do sleep 0.01; done
    if [ "${PARENT:-0}" = 1 ]; then
        perf stat -i -e task-clock,page-faults -x, -o "$work/perf" -p "$pid" &
        perf=$!
    fi
    local n
    n=$("${client_cpu[@]}" "$work/load" "$(cat "$work/port")" 8 "$S")
    if [ -n "$perf" ]; then
        kill -INT "$perf"
        wait "$perf" || true
        awk -F, -v n="$n" -v s="$S" -v l="$label" '/task-clock/ {t = $1} /page-faults/ {f = $1}
            END {printf "%s %.1f %.1f\n", l, t * 1000 / (n * s), f / (n * s)}' "$work/perf" >> "$work/parent"
    fi
    echo "$n"
    kill "$pid"
    rm -f "$work/port"
}

serve() { # $1 = label, $2 = bin dir, [$3 = rules, $4 = options]
    measure "$1" "$2/tcpserver" -1 "${4:--RHl0}" -x "${3:-$work/rules.cdb}" -c 40 -b 100 127.0.0.1 0 "${child[@]}"
}

bound() { # the accept + posix_spawn server
    measure bound "$work/ideal" "${child[@]}"
}

methods=(spawn fork clone)
declare -A ks
bs=() cs=() rs=() small=() big=() vsmall=() vbig=()
for _ in $(seq 1 "$R"); do
    for m in "${methods[@]}"; do
        ks[$m]+="$("${server_cpu[@]}" "$work/ceiling" "$m" "${child[@]:0:1}" 8 "$S" "${child[@]:1}") "
    done
    bs+=("$(bound)")
    cs+=("$(serve C "$REF")")
    rs+=("$(serve ours "$OURS")")
    if [ "${BIG:-0}" = 1 ]; then
        small+=("$(serve small "$OURS" "$work/rules.cdb")")
        big+=("$(serve big "$OURS" "$work/big.cdb")")
        vsmall+=("$(serve vsmall "$OURS" "$work/rules.cdb" -vRHl0)")
        vbig+=("$(serve vbig "$OURS" "$work/big.cdb" -vRHl0)")
    fi
done
declare -A k
for m in "${methods[@]}"; do
    k[$m]=$(printf '%s\n' ${ks[$m]} | median)
    echo "runs: ceiling by $m ${ks[$m]}(median ${k[$m]})"
done
echo "runs: bound ${bs[*]}; C ${cs[*]}; ours ${rs[*]}"
b=$(printf '%s\n' "${bs[@]}" | median)
c=$(printf '%s\n' "${cs[@]}" | median)
r=$(printf '%s\n' "${rs[@]}" | median)
pct() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f%%", 100 * a / b}'; }
ratios() { echo "$(pct "$1" "${k[spawn]}") of posix_spawn, $(pct "$1" "${k[fork]}") of fork, $(pct "$1" "${k[clone]}") of clone"; }
echo "spawn-and-reap ceilings (8 in flight, medians): posix_spawn ${k[spawn]}/s, fork ${k[fork]}/s, clone ${k[clone]}/s"
echo "accept + posix_spawn and nothing else (the bound): ${b}/s = $(ratios "$b")"
echo "C tcpserver:   ${c}/s = $(ratios "$c")"
echo "our tcpserver: ${r}/s = $(ratios "$r"); $(awk -v a="$r" -v b="$c" 'BEGIN {printf "%.2f", a / b}')x C, $(pct "$r" "$b") of the bound"
echo "goal: at least 95% of the posix_spawn and fork ceilings, never below C"
if [ "${PARENT:-0}" = 1 ]; then
    for l in bound C ours; do
        us=$(awk -v l="$l" '$1 == l {print $2}' "$work/parent" | median)
        pf=$(awk -v l="$l" '$1 == l {print $3}' "$work/parent" | median)
        echo "parent process (perf stat -i), $l: ${us} us of CPU and ${pf} page faults per connection"
    done
fi
if [ "${BIG:-0}" = 1 ]; then
    sm=$(printf '%s\n' "${small[@]}" | median)
    bg=$(printf '%s\n' "${big[@]}" | median)
    vsm=$(printf '%s\n' "${vsmall[@]}" | median)
    vbg=$(printf '%s\n' "${vbig[@]}" | median)
    cost() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
    echo "runs: small rules ${small[*]}; 30 MB rules ${big[*]}; with -v: ${vsmall[*]}; ${vbig[*]}"
    echo "ours, the parent reading the rules: small rules ${sm}/s, 30 MB rules ${bg}/s: cost per connection $(cost "$sm" "$bg")x"
    echo "ours, a forked child reading them (-v): small rules ${vsm}/s, 30 MB rules ${vbg}/s: cost per connection $(cost "$vsm" "$vbg")x (goal: at most 1.2x)"
fi

#!/usr/bin/env bash
# Benchmarks multilog, tai64n and tai64nlocal against the C originals, side
# by side in one run, on L generated log lines (default 1,000,000, about
# 126 MB). Prints the floor (`dd bs=128K`: read and write), each program's time, and the
# ratios. Each figure is the median of R runs (default 5), the C program and
# ours in turn: single runs on a disk vary by 2x and more (writeback of the
# run before, the journal), always to the cost of whichever runs second.
#
# Usage: bench/multilog.sh [L] [R]     (REF_BIN=dir to use given C binaries)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/reference.sh"
L=${1:-1000000}
R=${2:-5}

(cd "$here/.." && cargo build --release --quiet -p multilog)
OURS="$here/../target/release"
REF=$(ref_bin)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Lines of about 126 bytes, varied like real logs.
awk -v n="$L" 'BEGIN {
    for (i = 1; i <= n; i++)
        printf "%s host%03d service[%d]: request %d from 192.0.2.%d took %d ms status %d %s\n",
            "2026-11-21T10:00:00", i % 100, 1000 + i % 5000, i, i % 256, i % 997, 200 + i % 5,
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
}' > "$work/in"
size=$(wc -c < "$work/in")

secs() { # runs "$@" and prints the elapsed seconds
    local t0 t1
    # Outside the time: the last run's output goes first (truncating or
    # removing 140 MB of page cache is not the program's work).
    rm -rf "$work/log" "$work/out"
    t0=$(date +%s%N)
    "$@"
    t1=$(date +%s%N)
    awk -v ns=$((t1 - t0)) 'BEGIN {printf "%.3f", ns / 1e9}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

# The floor copies with read and write, as every program here must: cat
# (coreutils 9) copies a regular file to a regular file inside the kernel
# (copy_file_range), which no program that looks at its input can do.
cat_run() { dd if="$work/in" of="$work/out" bs=128K status=none; }
ml_run() { "$1/multilog" t s16777215 n100 "$work/log" < "$work/in"; }
# Ours with the local-time stamp (extension T), against the C multilog t.
mlT_run() { "$1/multilog" T s16777215 n100 "$work/log" < "$work/in"; }
tai_run() { "$1/tai64n" < "$work/in" > "$work/out"; }
# Into a pipe (to cat, reading 128 KiB at a time), where the filters write
# smaller blocks so that the reader works while they do.
tai_pipe_run() { "$1/tai64n" < "$work/in" | cat > /dev/null; }
local_run() { "$1/tai64nlocal" < "$work/stamped" > "$work/out"; }

"$OURS/tai64n" < "$work/in" > "$work/stamped"

# The medians of R runs of each, in turn: "pair CMD_C CMD_OURS" sets c
# and r.
pair() {
    local cs=() rs=() i
    for ((i = 0; i < R; i++)); do
        cs+=("$(secs $1 "$REF")")
        rs+=("$(secs $2 "$OURS")")
    done
    c=$(printf '%s\n' "${cs[@]}" | median)
    r=$(printf '%s\n' "${rs[@]}" | median)
}

echo "input: $L lines, $size bytes; medians of $R runs"
fs=()
for ((i = 0; i < R; i++)); do fs+=("$(secs cat_run)"); done
floor=$(printf '%s\n' "${fs[@]}" | median)
echo "dd bs=128K FILE > OUT (floor):    ${floor} s"
pair ml_run ml_run
echo "multilog t s16777215 n100 DIR:   C ${c} s  ours ${r} s  C/ours $(ratio "$c" "$r")x (goal >= 3)  ours/floor $(ratio "$r" "$floor")x"
pair ml_run mlT_run
echo "C multilog t, ours multilog T:   C ${c} s  ours ${r} s  C/ours $(ratio "$c" "$r")x (goal >= 3)"
pair tai_run tai_run
echo "tai64n > FILE:                   C ${c} s  ours ${r} s  ours/floor $(ratio "$r" "$floor")x (goal <= 1.5)  C/floor $(ratio "$c" "$floor")x"
pair tai_pipe_run tai_pipe_run
echo "tai64n | cat:                    C ${c} s  ours ${r} s  C/ours $(ratio "$c" "$r")x"
pair local_run local_run
echo "tai64nlocal > FILE:              C ${c} s  ours ${r} s  C/ours $(ratio "$c" "$r")x (goal >= 3)"

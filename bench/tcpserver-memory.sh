#!/usr/bin/env bash
# The smallest `softlimit -m` under which tcpserver works with eight
# concurrent clients, for the C original and ours, in the same run: for
# each candidate bound (binary search to 16 KiB), the server is started
# under it with `-RHl0 -x rules.cdb` and a tiny static child, eight clients
# connect as fast as they can for SECONDS (default 2), and the bound works
# if the server is still alive, served connections, and serves one more.
# Needs gcc (for the load generator and the child).
#
# Usage: bench/tcpserver-memory.sh [SECONDS]    (REF_BIN=dir to use given C binaries)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/reference.sh"
S=${1:-2}

(cd "$here/.." && cargo build --release --quiet -p tcpserver -p tcprules -p softlimit)
OURS=${OURS_BIN:-"$here/../target/release"}
REF=$(ref_bin)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gcc -O2 -static -o "$work/child" "$here/tcpserver/child.c"
gcc -O2 -pthread -o "$work/load" "$here/tcpserver/load.c"
printf '127.0.0.1:allow,X="y"\n:deny\n' | "$OURS/tcprules" "$work/rules.cdb" "$work/rules.tmp"

works() { # $1 = bin dir, $2 = bound; exit 0 if the server works under it
    rm -f "$work/port"
    "$OURS/softlimit" -m "$2" "$1/tcpserver" -1 -RHl0 -x "$work/rules.cdb" 127.0.0.1 0 "$work/child" > "$work/port" 2>/dev/null &
    local pid=$! n=0
    until [ -s "$work/port" ]; do
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.01; n=$((n+1)); [ $n -lt 500 ] || { kill "$pid"; return 1; }
    done
    local port rate ok=0
    port=$(cat "$work/port")
    rate=$("$work/load" "$port" 8 "$S")
    if kill -0 "$pid" 2>/dev/null && [ "${rate%.*}" -gt 0 ] && "$work/load" "$port" 1 1 > /dev/null && kill -0 "$pid" 2>/dev/null; then
        ok=1
    fi
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    [ $ok = 1 ]
}

lowest() { # $1 = bin dir; prints the smallest working bound
    local lo=65536 hi=268435456 mid
    works "$1" $hi || { echo "none"; return; }
    while [ $((hi - lo)) -gt 16384 ]; do
        mid=$(( (lo + hi) / 2 ))
        if works "$1" $mid; then hi=$mid; else lo=$mid; fi
    done
    echo $hi
}

c=$(lowest "$REF")
r=$(lowest "$OURS")
echo "smallest working softlimit -m, 8 concurrent clients: C $c bytes, ours $r bytes"
awk -v a="$r" -v b="$c" 'BEGIN {printf "ours / C: %.2f (goal: at most 1.00)\n", a / b}'

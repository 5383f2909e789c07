#!/usr/bin/env bash
# Benchmarks sslserver against stunnel4 (Debian's, OpenSSL 3) in front of
# the same program, side by side in one run, both with the same EC P-256
# certificate and the same client (sslserver/examples/tlsload.rs, rustls,
# TLS 1.3, no resumption):
#  - handshakes: CLIENTS (default 8) clients each connecting, handshaking,
#    reading the program's 3-byte reply to the end, closing; sessions per
#    second. The program is a tiny static one (bench/tcpserver/child.c),
#    started per connection by both (stunnel's `exec`).
#  - bulk: one session through which the program writes 100 MB
#    (`head -c 100000000 /dev/zero`); megabytes per second at the client.
# Each measured R times (default 5), alternating, for SECONDS (default 3);
# the medians are printed with their ratio. Needs gcc and openssl.
#
# stunnel4 and its libwrap0 are fetched with apt-get download and unpacked
# into a scratch directory, never installed.
#
# Usage: bench/sslserver.sh [SECONDS] [R] [CLIENTS]
#        (OURS_BIN=dir to measure another build of ours)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/reference.sh"
S=${1:-3}
R=${2:-5}
C=${3:-8}

(cd "$here/.." && cargo build --release --quiet -p sslserver --bins --example tlsload)
OURS=${OURS_BIN:-"$here/../target/release"}
LOAD="$here/../target/release/examples/tlsload"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

stun="${TMPDIR:-/tmp}/stunnel-ref"
if [ ! -x "$stun/root/usr/bin/stunnel4" ]; then
    mkdir -p "$stun" && (
        cd "$stun"
        apt-get download stunnel4 libwrap0 >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null 2>&1 && apt-get download stunnel4 libwrap0 >/dev/null 2>&1; }
        for deb in ./*.deb; do dpkg -x "$deb" root; done
    )
fi
STUNNEL=("env" "LD_LIBRARY_PATH=$stun/root/usr/lib/x86_64-linux-gnu" "$stun/root/usr/bin/stunnel4")

gcc -O2 -static -o "$work/child" "$here/tcpserver/child.c"
printf '#!/bin/sh\nexec head -c 100000000 /dev/zero\n' > "$work/bulk"
chmod +x "$work/bulk"
(
    cd "$work"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout key.pem -out cert.pem -days 30 -subj /CN=localhost \
        -addext subjectAltName=DNS:localhost -addext basicConstraints=critical,CA:FALSE 2>/dev/null
)

port=$((20000 + RANDOM % 20000))
start_ours() { # PROGRAM
    CERTFILE="$work/cert.pem" KEYFILE="$work/key.pem" \
        "$OURS/sslserver" -q -R -H -l localhost -c 100 -b 100 127.0.0.1 "$port" "$1" &
    pids+=($!)
}
start_stunnel() { # PROGRAM
    cat > "$work/stunnel.conf" <<CONF
foreground = yes
pid =
debug = 0
[bench]
accept = 127.0.0.1:$port
exec = $1
cert = $work/cert.pem
key = $work/key.pem
CONF
    "${STUNNEL[@]}" "$work/stunnel.conf" 2>/dev/null &
    pids+=($!)
}
stop() { kill "${pids[-1]}" 2>/dev/null || true; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'; port=$((port + 1)); }
up() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && return; sleep 0.02; done; echo "server did not start" >&2; exit 1; }

for kind in ours stunnel; do : > "$work/hs.$kind"; : > "$work/bulk.$kind"; done
for _ in $(seq "$R"); do
    for kind in ours stunnel; do
        "start_$kind" "$work/child"; up
        "$LOAD" handshakes "127.0.0.1:$port" "$work/cert.pem" "$C" "$S" >> "$work/hs.$kind"
        stop
        "start_$kind" "$work/bulk"; up
        "$LOAD" bulk "127.0.0.1:$port" "$work/cert.pem" 100000000 >> "$work/bulk.$kind"
        stop
    done
done
for m in hs bulk; do
    o=$(median < "$work/$m.ours"); s=$(median < "$work/$m.stunnel")
    case $m in
        hs) what="TLS 1.3 sessions/s, $C clients" ;;
        bulk) what="100 MB through one session, MB/s" ;;
    esac
    printf '%-40s sslserver %8s  stunnel %8s  ratio %s\n' "$what" "$o" "$s" \
        "$(awk -v a="$o" -v b="$s" 'BEGIN { printf "%.2fx", a / b }')"
    echo "  runs: ours $(tr '\n' ' ' < "$work/$m.ours")| stunnel $(tr '\n' ' ' < "$work/$m.stunnel")"
done

# Sourced by the benchmark scripts: finds the C originals to compare with,
# and the small helpers they share.
# Uses $REF_BIN if set (a directory holding the Debian binaries), else
# downloads Debian's daemontools and ucspi-tcp packages into a scratch
# directory and unpacks them there (never installed system-wide).
ref_bin() {
    if [ -n "${REF_BIN:-}" ]; then
        echo "$REF_BIN"
        return
    fi
    local scratch="${TMPDIR:-/tmp}/daemontools-ref"
    if [ ! -x "$scratch/root/usr/bin/supervise" ]; then
        mkdir -p "$scratch" && (
            cd "$scratch" || exit 1
            apt-get download daemontools ucspi-tcp >/dev/null 2>&1 ||
                { apt-get update -qq >/dev/null 2>&1 &&
                    apt-get download daemontools ucspi-tcp >/dev/null 2>&1; } || {
                echo "bench: cannot download the reference packages; set REF_BIN" >&2
                exit 1
            }
            for deb in ./*.deb; do dpkg -x "$deb" root; done
        ) || exit 1
    fi
    echo "$scratch/root/usr/bin"
}

# The median of numbers, one per line on stdin.
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# A statically linked shell (Debian's busybox-static, unpacked beside the
# originals, never installed), for images that hold nothing but static
# binaries: prints its path.
static_sh() {
    local scratch="${TMPDIR:-/tmp}/busybox-static"
    if [ ! -x "$scratch/root/bin/busybox" ]; then
        mkdir -p "$scratch" && (
            cd "$scratch" || exit 1
            apt-get download busybox-static >/dev/null 2>&1 ||
                { apt-get update -qq >/dev/null 2>&1 &&
                    apt-get download busybox-static >/dev/null 2>&1; } || {
                echo "cannot download busybox-static" >&2
                exit 1
            }
            dpkg -x ./busybox-static*.deb root
        ) || exit 1
    fi
    echo "$scratch/root/bin/busybox"
}

# A service tree of N services, each a long sleep: sleep_tree DIR N.
sleep_tree() {
    local i
    for i in $(seq 1 "$2"); do
        mkdir -p "$1/s$i"
        printf '#!/bin/sh\nexec sleep 100000\n' > "$1/s$i/run"
        chmod +x "$1/s$i/run"
    done
}

# Debian's packages NAME..., downloaded (never installed) into a scratch
# directory, for tests that install them in a throwaway root: prints the
# directory.
debian_debs() {
    local scratch="${TMPDIR:-/tmp}/debian-debs" p
    mkdir -p "$scratch" || return 1
    for p in "$@"; do
        ls "$scratch/${p}"_*.deb >/dev/null 2>&1 && continue
        (cd "$scratch" && { apt-get download "$p" >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null 2>&1 && apt-get download "$p" >/dev/null 2>&1; }; }) ||
            { echo "cannot download $p" >&2; return 1; }
    done
    echo "$scratch"
}

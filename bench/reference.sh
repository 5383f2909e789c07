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

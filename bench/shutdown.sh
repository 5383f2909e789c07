#!/usr/bin/env bash
# svscan's orderly shutdown (ours only: the C svscan has none): N services
# (default 50), each with a multilog log, each writing numbered lines as
# fast as it can and a last line when TERM comes. Measures SIGTERM to
# svscan's exit, then checks every log: lines 1..n in order, none missing,
# ending with the line written on TERM.
#
# Runs R times (default 5); the median time is printed.
#
# Usage: bench/shutdown.sh [N] [R]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/reference.sh"
N=${1:-50}
R=${2:-5}

(cd "$here/.." && cargo build --release --quiet -p supervise -p svscan -p multilog)
OURS="$here/../target/release"
work=$(mktemp -d)
scanpid=
cleanup() {
    [ -n "$scanpid" ] && kill -KILL "$scanpid" 2>/dev/null || true
    "$OURS/svc" -dx "$work"/*/* "$work"/*/*/log 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

now_ns() { date +%s%N; }

once() { # prints "seconds lost"
    local root="$work/t$RANDOM"
    for i in $(seq 1 "$N"); do
        mkdir -p "$root/s$i/log"
        cat > "$root/s$i/run" <<'RUN'
#!/bin/sh
i=0 stop=
trap 'stop=1' TERM
while [ -z "$stop" ]; do
    i=$((i+1))
    echo "line $i"
    if [ $((i % 20)) = 0 ]; then sleep 0.01; fi
done
echo "last $i"
RUN
        printf '#!/bin/sh\nexec multilog s16777215 ./main\n' > "$root/s$i/log/run"
        chmod +x "$root/s$i/run" "$root/s$i/log/run"
    done
    PATH="$OURS:$PATH" "$OURS/svscan" "$root" </dev/null >/dev/null 2>&1 &
    scanpid=$!
    until [ "$("$OURS/svstat" "$root"/* "$root"/*/log | grep -c ': up (pid ')" -eq $((2 * N)) ]; do
        sleep 0.05
    done
    # Let every service log for a moment.
    until [ "$(cat "$root"/s*/log/main/current 2>/dev/null | wc -l)" -ge $((N * 100)) ]; do
        sleep 0.05
    done
    local t0 t1
    t0=$(now_ns)
    kill -TERM "$scanpid"
    wait "$scanpid" || true
    t1=$(now_ns)
    scanpid=
    local lost=0 f
    for i in $(seq 1 "$N"); do
        f="$root/s$i/log/main/current"
        # Lines 1..n, then "last n".
        awk '
            /^line / { if ($2 != NR) bad = 1; n = $2; next }
            /^last / { if ($2 != n || NR != n + 1) bad = 1; last = 1; next }
            { bad = 1 }
            END { exit (bad || !last) }
        ' "$f" || lost=$((lost + 1))
    done
    awk -v ns=$((t1 - t0)) -v lost="$lost" 'BEGIN {printf "%.3f %d\n", ns / 1e9, lost}'
}

ts=() bad=0
for _ in $(seq 1 "$R"); do
    read -r t lost < <(once)
    ts+=("$t")
    bad=$((bad + lost))
done
echo "runs: ${ts[*]}"
printf 'svscan shutdown: %s services with logs, SIGTERM to exit (median s): %s; logs incomplete: %s of %s (goal: <= 1 s, 0)\n' \
    "$N" "$(printf '%s\n' "${ts[@]}" | median)" "$bad" $((N * R))

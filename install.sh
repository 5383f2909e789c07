#!/bin/sh
# Installs the toolkit: every program under PREFIX/bin, svscanboot and
# update-service with their two paths filled in, their manual pages under
# PREFIX/share/man/man8, optionally links in /command (the daemontools
# convention).
#
# usage: ./install.sh [--prefix DIR] [--destdir DIR] [--scandir DIR]
#                     [--command] [--from DIR]
#   --prefix DIR   where the programs go: DIR/bin (default /usr/local)
#   --destdir DIR  stage everything under DIR (packaging, tests); paths
#                  written into svscanboot do not include it
#   --scandir DIR  the scan directory svscanboot runs svscan on
#                  (default /service)
#   --command      also link every program into /command
#   --from DIR     take the binaries from DIR instead of building them
#                  with `cargo build --release`
set -eu

prefix=/usr/local
destdir=
scandir=/service
command=no
from=

die() { echo "install.sh: fatal: $*" >&2; exit 111; }
usage() { sed -n '7,16s/^# \{0,1\}//p' "$0" >&2; exit 100; }

while [ $# -gt 0 ]; do
    case $1 in
        --prefix) [ $# -ge 2 ] || usage; prefix=$2; shift 2 ;;
        --destdir) [ $# -ge 2 ] || usage; destdir=$2; shift 2 ;;
        --scandir) [ $# -ge 2 ] || usage; scandir=$2; shift 2 ;;
        --from) [ $# -ge 2 ] || usage; from=$2; shift 2 ;;
        --command) command=yes; shift ;;
        *) usage ;;
    esac
done

top=$(cd "$(dirname "$0")" && pwd)
if [ -z "$from" ]; then
    (cd "$top" && cargo build --release --quiet)
    from="$top/target/release"
fi

# Every program of the project; those not built yet are skipped.
programs="supervise svc svok svstat svwait fghack svscan readproctitle
softlimit setuidgid envuidgid envdir setlock pgrphack
multilog tai64n tai64nlocal
tcpserver tcpclient tcprules tcprulescheck sslserver
recordio addcr delcr fixcrio argv0 rblsmtpd mconnect-io"

bindir="$prefix/bin"
mkdir -p "$destdir$bindir" || die "unable to create $destdir$bindir"
installed=
for p in $programs; do
    [ -f "$from/$p" ] || continue
    cp "$from/$p" "$destdir$bindir/$p.new" || die "unable to copy $p"
    chmod 755 "$destdir$bindir/$p.new"
    mv -f "$destdir$bindir/$p.new" "$destdir$bindir/$p"
    installed="$installed $p"
done

# The shell tools: their paths are written here, once.
scripts="$top/svscan/svscanboot $top/svscan/update-service $top/tcpserver/scripts/mconnect $top/tcpserver/scripts/tcpcat
$top/tcpserver/scripts/who@ $top/tcpserver/scripts/date@ $top/tcpserver/scripts/finger@
$top/tcpserver/scripts/http@"
for src in $scripts; do
    p=$(basename "$src")
    sed -e "s|^scandir=.*|scandir=$scandir|" -e "s|^bindir=.*|bindir=$bindir|" \
        "$src" > "$destdir$bindir/$p.new" || die "unable to write $p"
    chmod 755 "$destdir$bindir/$p.new"
    mv -f "$destdir$bindir/$p.new" "$destdir$bindir/$p"
    installed="$installed $p"
done

# The manual pages (section 8), for every program installed.
mandir="$prefix/share/man/man8"
mkdir -p "$destdir$mandir" || die "unable to create $destdir$mandir"
for p in $installed; do
    [ -f "$top/man/man8/$p.8" ] || continue
    cp "$top/man/man8/$p.8" "$destdir$mandir/$p.8.new" || die "unable to copy $p.8"
    chmod 644 "$destdir$mandir/$p.8.new"
    mv -f "$destdir$mandir/$p.8.new" "$destdir$mandir/$p.8"
done

if [ "$command" = yes ]; then
    mkdir -p "$destdir/command" || die "unable to create $destdir/command"
    for p in $installed; do
        ln -sf "$bindir/$p" "$destdir/command/$p"
    done
fi
echo "installed in $destdir$bindir:$installed"

//! Real consumers, unchanged: Debian's djbdns packages (tinydns, axfrdns,
//! dnscache, djbdns-conf, djbdns-utils) and svtools, installed with dpkg
//! beside our package in a throwaway root (an overlay over /, chrooted
//! into, in its own PID namespace: the machine itself is never changed).
//! djbdns-conf depends on ucspi-tcp, which our package provides. Its
//! tinydns-conf, axfrdns-conf and dnscache-conf write the service
//! directories as for the originals (envuidgid, envdir, softlimit,
//! setuidgid, multilog, tcpserver -x with a Makefile calling tcprules);
//! our svscan runs them, djbdns-utils asks them, and svtools' svinfo,
//! svdir and mlcat read supervise/status and the multilog directories.

use testutil::*;

const SCRIPT: &str = r#"
set -e
AUTH=$1 CACHE=$2
cd /share
step install
dpkg -i daemontools-rs_*.deb >/dev/null 2>dpkg.err || { cat dpkg.err; exit 1; }
dpkg -i bsdextrautils_*.deb runit-helper_*.deb sysuser-helper_*.deb \
    tinydns_*.deb dnscache_*.deb axfrdns_*.deb djbdns-conf_*.deb \
    djbdns-utils_*.deb svtools_*.deb >dpkg.out 2>&1 || { cat dpkg.out; exit 1; }
dpkg-query -W -f '${Package} ${Status}\n' djbdns-conf djbdns-utils svtools
useradd -r -M -d /nonexistent -s /usr/sbin/nologin dnslog

step conf
mkdir -p /srv/dns
tinydns-conf tinydns dnslog /srv/dns/tinydns "$AUTH"
axfrdns-conf axfrdns dnslog /srv/dns/axfrdns /srv/dns/tinydns "$AUTH"
dnscache-conf dnscache dnslog /srv/dns/dnscache "$CACHE"
cd /srv/dns/tinydns/root
./add-ns example.com "$AUTH"
./add-host www.example.com 10.1.2.3
./add-mx example.com 10.1.2.4
make >/dev/null
cd /srv/dns/axfrdns
echo '127.:allow,AXFR="example.com"' > tcp
make
echo "$AUTH" > /srv/dns/dnscache/root/servers/example.com

step svscan
cd /srv/dns
svscan /srv/dns >/share/svscan.err 2>&1 &
scan=$!
up() {
    [ "$(svstat tinydns axfrdns dnscache | grep -c ': up (pid ')" = 3 ] &&
        svok tinydns/log && svok axfrdns/log && svok dnscache/log &&
        [ -s tinydns/log/main/current ] && [ -s axfrdns/log/main/current ] &&
        [ -s dnscache/log/main/current ]
}
wait_for "the tree never came up" up || { svstat * */log; exit 1; }
svstat * */log | sed 's/(pid [0-9]*) [0-9]* seconds/(pid P) S seconds/'

step queries
dnsq a www.example.com "$AUTH" | sed -n 's/^answer: //p'
dnsq mx example.com "$AUTH" | sed -n 's/^answer: //p'
DNSCACHEIP=$CACHE dnsip www.example.com
DNSCACHEIP=$CACHE dnsmx example.com
cd /tmp
tcpclient "$AUTH" 53 axfr-get example.com zone zone.tmp
grep -e '^+www.example.com:' -e '^@example.com:' zone

step logs
cd /srv/dns
stat -c '%U %a %n' tinydns/log/main tinydns/log/main/current axfrdns/log/main \
    dnscache/log/main
# Every line whole, under a TAI64N label.
cat */log/main/current | grep -vc '^@[0-9a-f]\{24\} .*$' || true
tai64nlocal < tinydns/log/main/current | sed -n '1s/^[0-9-]* [0-9:.]* //p'
sed 's/^@[0-9a-f]* [0-9a-f]*:[0-9a-f]*:[0-9a-f]* //' tinydns/log/main/current |
    grep -v '^@' | sort -u
sed -n 's/^@[0-9a-f]* tcpserver: //p' axfrdns/log/main/current |
    sed 's/[0-9][0-9]*/N/g' | sort | uniq -c | sed 's/^ *//'

step svtools
svdir
[ "$(svinfo -p tinydns)" = "$(svstat tinydns | sed 's/.*(pid \([0-9]*\)).*/\1/')" ] &&
    echo "svinfo -p: the pid svstat shows"
svinfo -w tinydns | grep -c '^[0-9]\{4\}-[0-9][0-9]-[0-9][0-9] [0-9:]\{8\}\.[0-9]\{9\}$'
svinfo -s tinydns || echo "exit $?"
mlcat tinydns | grep -c ' starting tinydns$'
svc -d dnscache
down() { svstat dnscache | grep -q ': down '; }
wait_for "dnscache never went down" down
svinfo -s dnscache || echo "exit $?"

step stop
svc -dx * */log
gone() { ! svok tinydns 2>/dev/null && ! svok tinydns/log 2>/dev/null; }
wait_for "tinydns's supervise did not exit" gone
kill $scan
cat /share/svscan.err
echo "== done"
"#;

#[test]
fn debians_djbdns_runs_under_our_tree_and_svtools_reads_it() {
    let packages = [
        "bsdextrautils",
        "runit-helper",
        "sysuser-helper",
        "tinydns",
        "dnscache",
        "axfrdns",
        "djbdns-conf",
        "djbdns-utils",
        "svtools",
    ];
    let (t, share) = our_package_and("e2e-djbdns", &packages);
    // Addresses of this run's own (port 53 on them is free, whatever else
    // runs on the machine).
    let x = std::process::id() % 250 + 1;
    let (auth, cache) = (format!("127.53.{x}.1"), format!("127.53.{x}.2"));
    let o = in_overlay(&t.join("ov"), &share, SCRIPT, &[&auth, &cache]);
    let want = "\
== install
djbdns-conf install ok installed
djbdns-utils install ok installed
svtools install ok installed
== conf
tcprules tcp.cdb tcp.tmp < tcp
== svscan
axfrdns: up (pid P) S seconds
dnscache: up (pid P) S seconds
tinydns: up (pid P) S seconds
axfrdns/log: up (pid P) S seconds
dnscache/log: up (pid P) S seconds
tinydns/log: up (pid P) S seconds
== queries
www.example.com 86400 A 10.1.2.3
example.com 86400 MX 0 a.mx.example.com
10.1.2.3 
0 a.mx.example.com
+www.example.com:10.1.2.3:86400
@example.com::a.mx.example.com.:0:86400
== logs
dnslog 2755 tinydns/log/main
dnslog 644 tinydns/log/main/current
dnslog 2755 axfrdns/log/main
dnslog 2755 dnscache/log/main
0
starting tinydns
+ 0001 www.example.com
+ 000f example.com
1 end N status N
1 ok N N:N.N.N.N:N :N.N.N.N::N
1 pid N from N.N.N.N
3 status: N/N
== svtools
/srv/dns
svinfo -p: the pid svstat shows
1
Service is started
exit 3
1
Service is stopped
exit 1
== stop
== done
";
    assert_eq!(o.stdout, want, "stderr: {}", o.stderr);
    assert_eq!(o.code, 0, "stderr: {}", o.stderr);
}

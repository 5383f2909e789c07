//! A real consumer, unchanged: Debian's tinydyndns (pop-before-dyndns),
//! installed with dpkg beside our package in a throwaway root (an overlay
//! over /, chrooted into, in its own PID namespace). tinydyndns-conf
//! writes a tinydns service and a POP3 service whose run script is
//! `softlimit -m 4000000 envdir ./env tcpserver -vRHl... pop3front-auth
//! cvm-pwfile sh -c '... setlock data.cdb tinydyndns-update ...
//! $TCPREMOTEIP'` (mailfront's POP3 front end, cvm's password checker).
//! Under our svscan, a client that logs in over POP3 from one address
//! moves its host name there: tinydns answers with the address our
//! tcpserver put in `$TCPREMOTEIP`.

use testutil::*;

const SCRIPT: &str = r#"
set -e
IP=$1 CLIENT=$2
cd /share
step install
dpkg -i daemontools-rs_*.deb >/dev/null 2>dpkg.err || { cat dpkg.err; exit 1; }
dpkg -i bsdextrautils_*.deb runit-helper_*.deb sysuser-helper_*.deb \
    tinydns_*.deb djbdns-conf_*.deb djbdns-utils_*.deb libbg2_*.deb \
    libcvm1_*.deb liblua5.1-0_*.deb cvm_*.deb mailfront_*.deb \
    tinydyndns_*.deb >dpkg.out 2>&1 || { cat dpkg.out; exit 1; }
dpkg-query -W -f '${Package} ${Status}\n' mailfront tinydyndns
useradd -r -M -d /nonexistent -s /usr/sbin/nologin dnslog

step conf
tinydyndns-conf tinydns dnslog /srv/dyn "$IP" dyn.example >/dev/null
cd /srv/dyn/pop
# As its documentation says: as the account tinydns runs under.
setuidgid tinydns ./setpasswd home secret
mkdir -p /srv/service
ln -s /srv/dyn /srv/service/dyn
ln -s /srv/dyn/pop /srv/service/dyn-pop

step svscan
cd /srv/service
svscan /srv/service >/share/svscan.err 2>&1 &
scan=$!
up() {
    [ "$(svstat dyn dyn-pop | grep -c ': up (pid ')" = 2 ] &&
        svok dyn/log && svok dyn-pop/log && [ -s dyn/log/main/current ]
}
wait_for "the tree never came up" up || { svstat * */log; exit 1; }
svstat * */log | sed 's/(pid [0-9]*) [0-9]* seconds/(pid P) S seconds/'
dnsq a home.dyn.example "$IP" | sed -n 's/^answer: //p'

step pop3
# A POP3 client over tcpclient's fds 6 and 7, a command at a time (the
# front end hands the rest of the connection to pop3front-maildir).
cat >/tmp/pop <<'EOF'
say() { read -r l <&6; echo "$l" | tr -d '\r' | sed 's/^\([-+][A-Z]*\).*/\1/'; }
say
for c in "USER $1" "PASS $2" STAT QUIT; do printf '%s\r\n' "$c" >&7; say; done
EOF
# Logged in from $CLIENT: the host name moves there.
login() {
    tcpclient -RHl0 -i "$CLIENT" "$IP" 110 sh /tmp/pop home secret >/tmp/answer \
        2>/tmp/tcpclient.err
}
wait_for "no POP3 service" login || { cat /tmp/tcpclient.err; exit 1; }
cat /tmp/answer
dnsq a home.dyn.example "$IP" | sed -n 's/^answer: //p'
# A wrong password changes nothing.
tcpclient -RHl0 -i 127.0.0.1 "$IP" 110 sh /tmp/pop home wrong
dnsq a home.dyn.example "$IP" | sed -n 's/^answer: //p'

step logs
cd /srv/service
wait_for "no login line" grep -qs 'login: home: ' dyn-pop/log/main/current
# Every line whole, under a TAI64N label.
cat dyn-pop/log/main/current | grep -vc '^@[0-9a-f]\{24\} .*$' || true
sed -n 's/^@[0-9a-f]* //p' dyn-pop/log/main/current | grep -v '^tcpserver: status' |
    sed -e "s/$CLIENT/CLIENT/g" -e "s/$IP/IP/g" -e 's/[0-9][0-9]*/N/g' |
    sort | uniq -c | sed 's/^ *//'

step stop
svc -dx * */log
gone() { ! svok dyn 2>/dev/null && ! svok dyn-pop 2>/dev/null; }
wait_for "supervise did not exit" gone
kill $scan
cat /share/svscan.err
echo "== done"
"#;

#[test]
fn debians_tinydyndns_moves_a_name_to_the_address_tcpserver_reports() {
    let packages = [
        "bsdextrautils",
        "runit-helper",
        "sysuser-helper",
        "tinydns",
        "djbdns-conf",
        "djbdns-utils",
        "libbg2",
        "libcvm1",
        "liblua5.1-0",
        "cvm",
        "mailfront",
        "tinydyndns",
    ];
    let (t, share) = our_package_and("e2e-tinydyndns", &packages);
    // Addresses of this run's own (ports 53 and 110 on them are free,
    // whatever else runs on the machine).
    let x = std::process::id() % 250 + 1;
    let (ip, client) = (format!("127.54.{x}.1"), format!("127.54.{x}.7"));
    let o = in_overlay(&t.join("ov"), &share, SCRIPT, &[&ip, &client]);
    let want = "\
== install
mailfront install ok installed
tinydyndns install ok installed
== conf
tinydyndns-data: info: add: home.dyn.example
== svscan
dyn: up (pid P) S seconds
dyn-pop: up (pid P) S seconds
dyn-pop/log: up (pid P) S seconds
dyn/log: up (pid P) S seconds
home.dyn.example 5 A 127.14.14.14
== pop3
+OK
+OK
+OK
+OK
+OK
home.dyn.example 5 A CLIENT
+OK
+OK
-ERR
-ERR
+OK
home.dyn.example 5 A CLIENT
== logs
0
1 login: home: CLIENT
5 popNfront-auth[N]: +OK 
1 popNfront-auth[N]: -ERR Authentication failed
1 popNfront-auth[N]: -ERR Unimplemented
2 popNfront-auth[N]: PASS XXXXXXXX
1 popNfront-auth[N]: QUIT
1 popNfront-auth[N]: STAT
2 popNfront-auth[N]: USER home
2 popNfront-maildir[N]: +OK 
1 popNfront-maildir[N]: +OK N N
1 popNfront-maildir[N]: QUIT
1 popNfront-maildir[N]: STAT
1 popNfront-maildir[N]: bytes in: N bytes out: N
2 tcpserver: end N status N
1 tcpserver: ok N dyn.example:IP:N :CLIENT::N
1 tcpserver: ok N dyn.example:IP:N :N.N.N.N::N
1 tcpserver: pid N from CLIENT
1 tcpserver: pid N from N.N.N.N
1 tinydyndns-update: info: update: home.dyn.example -> CLIENT
== stop
== done
";
    let got = o.stdout.replace(&client, "CLIENT").replace(&ip, "IP");
    assert_eq!(got, want, "stderr: {}", o.stderr);
    assert_eq!(o.code, 0, "stderr: {}", o.stderr);
}

//! The Debian package: built by packaging/build-deb from the test build,
//! checked by lintian, then installed with dpkg over Debian's real
//! daemontools and daemontools-run in a throwaway root (private mount and
//! PID namespaces with an overlay over /, chrooted into: the machine itself
//! is never changed), used (man pages, the unit, update-service with a running
//! svscan), removed and purged.

use std::fs;
use std::path::Path;
use std::process::Command;

use testutil::*;

#[test]
fn the_package_replaces_daemontools_run_and_leaves_nothing_behind() {
    require_root("mount namespace, overlay, dpkg");
    let t = TempDir::new("e2e-deb");
    let share = t.join("share");
    fs::create_dir_all(&share).unwrap();
    let deb = build_deb(&share);
    assert!(deb.ends_with(".deb"), "{deb}");

    // lintian: no errors.
    let l = Command::new("lintian")
        .args(["--fail-on", "error", "--no-cfg"])
        .arg(&deb)
        .output()
        .expect("lintian must be installed (CI installs it)");
    let lout = String::from_utf8_lossy(&l.stdout);
    assert!(l.status.success(), "lintian: {lout}");
    assert!(!lout.lines().any(|x| x.starts_with("E: ")), "{lout}");

    // Debian's packages, to install ours over.
    let debs = debian_debs(&["daemontools", "daemontools-run"]);
    for f in fs::read_dir(&debs).unwrap() {
        let p = f.unwrap().path();
        let n = p.file_name().unwrap().to_string_lossy().into_owned();
        if n.starts_with("daemontools_") || n.starts_with("daemontools-run_") {
            fs::copy(&p, share.join(format!("debian-{n}"))).unwrap();
        }
    }

    let script = r#"
set -e
cd /share
step "Debian's daemontools-run"
printf 'id:2:initdefault:\n' > /etc/inittab
dpkg -i debian-daemontools_*.deb debian-daemontools-run_*.deb >/dev/null 2>&1
dpkg-query -W -f '${Status}\n' daemontools-run
step ours
dpkg -i daemontools-rs_*.deb >/dev/null 2>dpkg.err || { cat dpkg.err; exit 1; }
dpkg-query -W -f '${Status}\n' daemontools-rs
dpkg-query -W -f '${Status}\n' daemontools daemontools-run 2>/dev/null | grep -q ' installed$' && echo "Debian's still installed"
dpkg -S /usr/bin/svscan /usr/bin/tcpserver /usr/sbin/update-service /usr/bin/svscanboot
dpkg -L daemontools-rs > files
step man
for p in $(grep '^/usr/share/man/man8/' files); do
    man --warnings -l "$p" >/dev/null 2>man.err
    [ ! -s man.err ] || { echo "man -l $p:"; cat man.err; }
done
MANPAGER=cat MANWIDTH=80 man 8 svc | grep -c 'svc - controls services'
MANPAGER=cat MANWIDTH=80 man 8 tai64nlocal | grep -c 'tai64n, tai64nlocal'
step unit
grep -c '^SV:123456:respawn:/usr/bin/svscanboot$' /etc/inittab
grep -E '^(ExecStart|KillMode)=' /lib/systemd/system/daemontools-run.service
readlink /etc/systemd/system/multi-user.target.wants/daemontools-run.service
step update-service
mkdir -p /etc/sv/hello/log
printf '#!/bin/sh\necho hello\nexec sleep 100000\n' > /etc/sv/hello/run
printf '#!/bin/sh\nexec cat > /dev/null\n' > /etc/sv/hello/log/run
chmod 755 /etc/sv/hello/run /etc/sv/hello/log/run
update-service --add /etc/sv/hello
readlink /etc/sv/hello/supervise /etc/sv/hello/log/supervise
update-service --list
update-service --check hello && echo "check: registered"
# svscan as the unit starts it (its ExecStart line; env execs svscan).
$(sed -n 's/^ExecStart=//p' /lib/systemd/system/daemontools-run.service) >/dev/null 2>&1 &
scan=$!
# Up, not only supervised: between supervise's start (svok succeeds) and
# the first start of ./run, svstat shows "down 0 seconds, normally up,
# want up", as the original's does.
up() {
    svstat /etc/service/hello 2>/dev/null | grep -q ': up (pid ' &&
        svok /etc/service/hello/log 2>/dev/null
}
wait_for "hello never came up" up
svstat /etc/service/hello | sed 's/(pid [0-9]*) [0-9]* seconds/(pid P) S seconds/'
update-service --remove /etc/sv/hello
gone() { ! svok /etc/sv/hello 2>/dev/null && ! svok /etc/sv/hello/log 2>/dev/null; }
wait_for "hello's supervise did not exit" gone
update-service --check hello || echo "check: not registered"
# systemctl stop with KillMode=mixed: TERM to the main process alone. The
# tree stops in order: bye gets TERM, its supervise exits, svscan exits 0.
mkdir -p /etc/sv/bye
printf '#!/bin/sh\ntrap "echo term > got-term; exit 0" TERM\n: > trapped\nwhile :; do sleep 0.05; done\n' > /etc/sv/bye/run
chmod 755 /etc/sv/bye/run
update-service --add /etc/sv/bye >/dev/null
# Its trap is set: the TERM cannot come before it.
wait_for "bye never came up" test -e /etc/sv/bye/trapped
kill $scan
wait $scan
echo "svscan exited $?"
cat /etc/sv/bye/got-term
svok /etc/service/bye 2>/dev/null || echo "bye: supervise gone"
rm -f /etc/service/bye
rm -rf /etc/sv
step remove
dpkg -r daemontools-rs >/dev/null 2>&1
dpkg-query -W -f '${Status}\n' daemontools-rs
step purge
dpkg -P daemontools-rs >/dev/null 2>&1
dpkg-query -W -f '${Status}\n' daemontools-rs 2>/dev/null || echo "not known to dpkg"
left=0
while read -r f; do
    # Files and links; directories may be shared (/lib is a link to one).
    if { [ -L "$f" ] || [ -e "$f" ]; } && [ ! -d "$f" ]; then echo "left: $f"; left=1; fi
done < files
for d in /etc/service /var/lib/supervise; do [ ! -e "$d" ] || echo "left: $d"; done
grep '^SV:' /etc/inittab && echo "left: the inittab line"
[ -e /etc/systemd/system/multi-user.target.wants/daemontools-run.service ] && echo "left: the unit's link"
echo "== done"
"#;
    let o = in_overlay(&t.join("ov"), &share, script, &[]);
    let want = "\
== Debian's daemontools-run
install ok installed
== ours
install ok installed
daemontools-rs: /usr/bin/svscan
daemontools-rs: /usr/bin/tcpserver
daemontools-rs: /usr/sbin/update-service
daemontools-rs: /usr/bin/svscanboot
== man
1
1
== unit
1
ExecStart=/usr/bin/env - PATH=/usr/bin:/command:/usr/local/bin:/usr/local/sbin:/bin:/sbin:/usr/sbin /usr/bin/svscan /etc/service
KillMode=mixed
/lib/systemd/system/daemontools-run.service
== update-service
Service hello added.
/var/lib/supervise/hello
/var/lib/supervise/hello.log
hello
check: registered
/etc/service/hello: up (pid P) S seconds
Service hello removed, the service daemon received the TERM and CONT signals.
check: not registered
svscan exited 0
term
bye: supervise gone
== remove
deinstall ok config-files
== purge
not known to dpkg
== done
";
    assert_eq!(o.stdout, want, "stderr: {}", o.stderr);
    assert_eq!(o.code, 0, "stderr: {}", o.stderr);
    // The machine itself was not touched.
    assert!(!Path::new("/etc/sv/hello").exists());
    let q = Command::new("dpkg-query")
        .args(["-W", "daemontools-rs"])
        .output()
        .unwrap();
    assert!(!q.status.success(), "installed on the machine itself");
}

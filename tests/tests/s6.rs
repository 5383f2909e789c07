//! The event fifodir is s6's: Debian's s6, installed with dpkg in a
//! throwaway root (an overlay over /, chrooted into, in its own PID
//! namespace: the machine itself is never changed), subscribes to our
//! supervise's `supervise/event/` with its own fifodir tools
//! (s6-ftrig-listen1, s6-ftrig-listen, s6-ftrig-wait), gets our event
//! bytes, and leaves nothing behind; s6-svc's plain commands reach our
//! supervise through `supervise/control`; s6-svok sees it running (the
//! record lock on supervise/lock), and s6-notifyoncheck in a run script
//! makes it ready once its check passes.

use std::fs;
use std::process::Command;

use testutil::*;

const SCRIPT: &str = r#"
set -e
cd /share
dpkg -i lib*.deb s6_*.deb >dpkg.out 2>&1 || { cat dpkg.out; exit 1; }
export PATH=/share/bin:$PATH
mkdir -p /srv/a
printf '#!/bin/sh\necho ready >&5\nexec sleep 100000\n' > /srv/a/run
chmod 755 /srv/a/run
echo 5 > /srv/a/notification-fd
touch /srv/a/down
cd /srv
supervise a >/share/supervise.err 2>&1 &
wait_for "supervise never came up" svok a
events() { ls -A a/supervise/event | wc -l; }
s6-ftrig-listen1 -t 10000 a/supervise/event U svc -u a
echo "listen1 U: $?"
svstat -o up,ready a
s6-ftrig-listen1 -t 10000 a/supervise/event 'd.*D' svc -d a
echo "listen1 dD: $?"
svstat -o up,ready a
s6-ftrig-listen -a -t 10000 a/supervise/event 'u' a/supervise/event 'u.*U' '' s6-svc -u a
echo "listen -a u, uU: $?"
svstat -o up,ready a
s6-ftrig-wait -t 200 a/supervise/event d || echo "wait, nothing comes: $?"
s6-ftrig-listen1 -t 10000 a/supervise/event d s6-svc -d a
echo "listen1 d after s6-svc -d: $?"
echo "FIFOs left: $(events)"
s6-svok a && echo "s6-svok: running"
# s6-notifyoncheck in a run script: it asks s6-svok's question, then
# subscribes to DIR/event (s6-supervise's place for it): a symlink.
mkdir -p /srv/b/data
printf '#!/bin/sh\nexec s6-notifyoncheck -w 50 -n 0 sh -c "sleep 0.3; touch up-now; exec sleep 100000"\n' > /srv/b/run
printf '#!/bin/sh\ntest -e up-now\n' > /srv/b/data/check
chmod 755 /srv/b/run /srv/b/data/check
echo 5 > /srv/b/notification-fd
touch /srv/b/down
ln -s supervise/event /srv/b/event
supervise b >/share/supervise-b.err 2>&1 &
wait_for "supervise b never came up" svok b
svc -wU -T 20000 -u b
echo "svc -wU on s6-notifyoncheck: $?"
[ -e b/up-now ] && echo "ready once the check passed"
svc -dx b
s6-ftrig-listen1 -t 10000 a/supervise/event x svc -x a
echo "listen1 x: $?"
wait
echo "FIFOs left: $(events)"
s6-svok a || echo "s6-svok after exit: $?"
cat /share/supervise.err /share/supervise-b.err
echo "== done"
"#;

#[test]
fn s6s_fifodir_tools_listen_to_our_event_directory() {
    require_root("a mount and PID namespace, an overlay, dpkg");
    let t = TempDir::new("e2e-s6");
    let share = t.join("share");
    fs::create_dir_all(share.join("bin")).unwrap();
    for p in ["supervise", "svc", "svok", "svstat"] {
        fs::copy(bin_dir().join(p), share.join("bin").join(p)).unwrap();
    }
    // s6 and the libraries it needs, whatever their versions are named.
    debs_into(&["s6"], &share);
    let deps = Command::new("apt-cache")
        .args(["depends", "s6"])
        .output()
        .unwrap();
    let deps = String::from_utf8_lossy(&deps.stdout).into_owned();
    let libs: Vec<&str> = deps
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Depends: "))
        .filter(|p| p.starts_with("lib") && !p.starts_with("libc6"))
        .collect();
    assert!(!libs.is_empty(), "apt-cache depends s6: {deps}");
    debs_into(&libs, &share);
    let o = in_overlay(&t.join("ov"), &share, SCRIPT, &[]);
    let want = "\
U
listen1 U: 0
true true
D
listen1 dD: 0
false false
listen -a u, uU: 0
true true
wait, nothing comes: 1
d
listen1 d after s6-svc -d: 0
FIFOs left: 0
s6-svok: running
svc -wU on s6-notifyoncheck: 0
ready once the check passed
x
listen1 x: 0
FIFOs left: 0
s6-svok after exit: 1
== done
";
    assert_eq!(o.stdout, want, "stderr: {}", o.stderr);
    assert_eq!(o.code, 0, "stderr: {}", o.stderr);
}

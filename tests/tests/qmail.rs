//! The qmail services end to end: the toolkit installer, the qmail-services
//! installer (dry run, then into a temporary root), svscan hosting the
//! qmail-smtpd and qmail-send templates from that root with small stand-ins
//! for qmail-smtpd and qmail-start; then the demo tree from the README
//! command.
//!
//! Needs root, as CI has: accounts are resolved through the root's
//! /etc/passwd bind-mounted in a private mount namespace, and tcpserver
//! drops to qmaild.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use testutil::*;

const TOP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// `name -> fields` of a passwd or group file.
fn table(p: &Path) -> HashMap<String, Vec<String>> {
    fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<String> = l.split(':').map(String::from).collect();
            (f[0].clone(), f)
        })
        .collect()
}

/// A process group killed (with everything in it) when dropped.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        kill_group("-9", self.0.id());
        let _ = self.0.wait();
    }
}

fn svstat(bin: &Path, dir: &Path) -> String {
    let o = Command::new(bin.join("svstat")).arg(dir).output().unwrap();
    let s = String::from_utf8(o.stdout).unwrap();
    s.trim_end()
        .split_once(": ")
        .map(|(_, t)| t.to_string())
        .unwrap_or(s)
}

fn pid_of(status: &str) -> Option<u32> {
    status
        .strip_prefix("up (pid ")?
        .split(')')
        .next()?
        .parse()
        .ok()
}

fn installer(root: &Path, prefix: &Path, port: u16, dry: bool) -> Out {
    let mut args = vec![format!("{TOP}/examples/install-qmail-services")];
    if dry {
        args.push("--dry-run".into());
    }
    for a in [
        "--root",
        root.to_str().unwrap(),
        "--prefix",
        prefix.to_str().unwrap(),
        "--smtp-port",
    ] {
        args.push(a.into());
    }
    args.push(port.to_string());
    run("sh", &args, root.parent().unwrap())
}

#[test]
fn qmail_services_from_the_installer_under_svscan() {
    require_root("mount namespace, other uids, chown");
    let t = TempDir::new("e2e-qmail");
    let bin = bin_dir();
    let prefix = t.join("prefix");
    let pbin = install_toolkit(&bin, &prefix, &[]);

    // A target root with the machine's accounts.
    let root = t.join("root");
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::copy("/etc/passwd", root.join("etc/passwd")).unwrap();
    fs::copy("/etc/group", root.join("etc/group")).unwrap();
    let passwd_before = fs::read(root.join("etc/passwd")).unwrap();
    let port = free_port();

    // Dry run: says what it would do, changes nothing.
    let o = installer(&root, &prefix, port, true);
    assert_eq!(o.code, 0, "{}", o.stderr);
    for want in [
        "append to {R}/etc/group: nofiles:x:",
        "append to {R}/etc/passwd: qmaild:x:",
        "chmod 1755 {R}/var/qmail/supervise/qmail-smtpd",
        "# qmail is not installed yet ({R}/var/qmail/bin lacks qmail-start qmail-smtpd): nothing linked into {R}/service",
    ] {
        let want = want.replace("{R}", root.to_str().unwrap());
        assert!(
            o.stdout.contains(&want),
            "dry run lacks {want:?}:\n{}",
            o.stdout
        );
    }
    assert_eq!(fs::read(root.join("etc/passwd")).unwrap(), passwd_before);
    assert!(!root.join("var").exists() && !root.join("service").exists());

    // The real run, twice: the second changes nothing.
    let o = installer(&root, &prefix, port, false);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let passwd = table(&root.join("etc/passwd"));
    let group = table(&root.join("etc/group"));
    let gid = |g: &str| group[g][2].clone();
    for (user, grp, home) in [
        ("alias", "nofiles", "/var/qmail/alias"),
        ("qmaild", "nofiles", "/var/qmail"),
        ("qmaill", "nofiles", "/var/qmail"),
        ("qmailp", "nofiles", "/var/qmail"),
        ("qmailq", "qmail", "/var/qmail"),
        ("qmailr", "qmail", "/var/qmail"),
        ("qmails", "qmail", "/var/qmail"),
    ] {
        let f = &passwd[user];
        assert_eq!(f[1], "x", "{user}: no password in passwd");
        assert_eq!(f[3], gid(grp), "{user}'s group");
        assert_eq!(f[5], home);
        assert!(
            f[6] == "/usr/sbin/nologin" || f[6] == "/bin/false",
            "{user}: no login shell"
        );
    }
    let q = root.join("var/qmail/supervise");
    for s in ["qmail-send", "qmail-smtpd"] {
        assert_eq!(mode(&q.join(s)), 0o1755);
        assert_eq!(mode(&q.join(s).join("log")), 0o1755);
        assert_eq!(mode(&q.join(s).join("supervise")), 0o750);
        assert_eq!(mode(&q.join(s).join("log/supervise")), 0o750);
        assert_eq!(mode(&q.join(s).join("run")), 0o755);
    }
    // Step one of two: qmail's own `make setup check` comes next (it needs
    // the accounts); nothing is linked into the scan directory yet.
    assert!(!root.join("service").exists(), "{}", o.stdout);
    assert!(o.stdout.contains("then run this again"), "{}", o.stdout);
    let qmaill: u32 = passwd["qmaill"][2].parse().unwrap();
    for d in ["var/log/qmail", "var/log/qmail/smtpd"] {
        assert_eq!(
            fs::metadata(root.join(d)).unwrap().uid(),
            qmaill,
            "{d} owned by qmaill"
        );
    }
    let rules = Command::new(pbin.join("tcprulescheck"))
        .arg(root.join("etc/tcp.smtp.cdb"))
        .env("TCPREMOTEIP", "127.0.0.1")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&rules.stdout),
        "rule 127.0.0.1:\nset environment variable RELAYCLIENT=\nallow connection\n"
    );
    let snapshot = (
        fs::read(root.join("etc/passwd")).unwrap(),
        fs::read(root.join("etc/group")).unwrap(),
    );

    // qmail installed (stand-ins for its programs), then step two: the
    // same command again links the services and changes nothing else.
    let qbin = root.join("var/qmail/bin");
    script(
        qbin.join("qmail-smtpd"),
        "echo '220 stand-in ESMTP'\nwhile IFS= read -r line; do\n  case \"$line\" in\n    QUIT*) echo \"221 bye ${RELAYCLIENT+relay}${RELAYCLIENT-norelay} uid=$(id -u)\"; exit 0;;\n    *) echo '250 ok';;\n  esac\ndone\n",
    );
    script(
        qbin.join("qmail-start"),
        "echo \"qmail-start: delivering to $1\"\nexec sleep 100000\n",
    );
    let o = installer(&root, &prefix, port, false);
    assert_eq!(o.code, 0);
    assert!(o.stdout.contains("# account qmaild exists"));
    assert_eq!(
        (
            fs::read(root.join("etc/passwd")).unwrap(),
            fs::read(root.join("etc/group")).unwrap()
        ),
        snapshot
    );
    for s in ["qmail-send", "qmail-smtpd"] {
        assert_eq!(
            fs::read_link(root.join("service").join(s)).unwrap(),
            q.join(s)
        );
    }
    // And a third run is idempotent.
    let o = installer(&root, &prefix, port, false);
    assert_eq!(o.code, 0);
    assert!(
        o.stdout.contains("/service/qmail-smtpd exists"),
        "{}",
        o.stdout
    );

    // svscan on the root's scan directory, seeing the root's accounts.
    let svscan = format!(
        "mount --bind {r}/etc/passwd /etc/passwd && mount --bind {r}/etc/group /etc/group && exec {b}/svscan {r}/service",
        r = root.display(),
        b = pbin.display()
    );
    let _scan = Group(
        Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &svscan])
            .env("PATH", format!("{}:/usr/bin:/bin", pbin.display()))
            // tcpserver looks up names (no -H, no -l in the template): a
            // resolver address where nothing listens makes them fail at
            // once instead of waiting on whatever DNS the machine has.
            .env("DNSCACHEIP", "127.0.79.253")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap(),
    );
    let svc_dir = root.join("service");
    let up = |d: &str| svstat(&pbin, &svc_dir.join(d)).starts_with("up (pid ");
    for d in [
        "qmail-smtpd",
        "qmail-smtpd/log",
        "qmail-send",
        "qmail-send/log",
    ] {
        assert!(
            wait_until(15.0, || up(d)),
            "{d}: {}",
            svstat(&pbin, &svc_dir.join(d))
        );
    }
    // The template's readiness: tcpserver -1 on the notification pipe says
    // it listens; the port line is not in the log.
    let o = Command::new(pbin.join("svwait"))
        .args(["-U", "-t", "10000"])
        .arg(svc_dir.join("qmail-smtpd"))
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // An SMTP session from 127.0.0.1: RELAYCLIENT set, run as qmaild.
    let logs = || {
        let r = |p: &str| fs::read_to_string(root.join(p)).unwrap_or_else(|e| e.to_string());
        format!(
            "smtpd log: {}\nsend log: {}",
            r("var/log/qmail/smtpd/current"),
            r("var/log/qmail/current")
        )
    };
    let mut reply = String::new();
    assert!(
        wait_until(10.0, || {
            let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)) else {
                return false;
            };
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            c.write_all(b"HELO x\r\nQUIT\r\n").unwrap();
            reply.clear();
            c.read_to_string(&mut reply).is_ok()
        }),
        "{}",
        logs()
    );
    assert_eq!(
        reply,
        format!(
            "220 stand-in ESMTP\n250 ok\n221 bye relay uid={}\n",
            passwd["qmaild"][2]
        )
    );

    // The smtpd log: tcpserver's lines, each with a TAI64N label.
    let current = root.join("var/log/qmail/smtpd/current");
    assert!(wait_until(10.0, || fs::read_to_string(&current)
        .unwrap_or_default()
        .contains(" tcpserver: end ")));
    let text = fs::read_to_string(&current).unwrap();
    for line in text.lines() {
        let (label, rest) = line.split_at(25);
        assert!(
            label.starts_with("@4") && label[1..].bytes().all(|b| b.is_ascii_hexdigit()),
            "{line}"
        );
        assert!(rest.starts_with(" tcpserver: "), "{line}");
    }
    assert!(text.contains(" tcpserver: status: 0/40\n"));
    assert!(text.contains(&format!(":127.0.0.1:{port} :127.0.0.1::")));
    let send_log = root.join("var/log/qmail/current");
    assert!(
        wait_until(10.0, || fs::read_to_string(&send_log)
            .unwrap_or_default()
            .contains(" qmail-start: delivering to ./Mailbox\n")),
        "{:?} {:?}",
        fs::read_to_string(&send_log),
        fs::read_dir(root.join("var/log/qmail"))
            .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
    );

    // svc -t restarts; -d and -u.
    let smtpd = svc_dir.join("qmail-smtpd");
    let svc = |opt: &str| {
        assert_eq!(
            Command::new(pbin.join("svc"))
                .arg(opt)
                .arg(&smtpd)
                .status()
                .unwrap()
                .code(),
            Some(0)
        )
    };
    let before = pid_of(&svstat(&pbin, &smtpd)).unwrap();
    svc("-t");
    assert!(wait_until(10.0, || pid_of(&svstat(&pbin, &smtpd))
        .is_some_and(|p| p != before)));
    svc("-d");
    assert!(wait_until(10.0, || svstat(&pbin, &smtpd).starts_with("down ")));
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    svc("-u");
    assert!(wait_until(10.0, || up("qmail-smtpd")));
    assert!(wait_until(10.0, || TcpStream::connect(("127.0.0.1", port)).is_ok()));

    // Stop the services before the group goes.
    let dirs: Vec<PathBuf> = [
        "qmail-smtpd",
        "qmail-smtpd/log",
        "qmail-send",
        "qmail-send/log",
    ]
    .iter()
    .map(|d| svc_dir.join(d))
    .collect();
    let _ = Command::new(pbin.join("svc"))
        .arg("-dx")
        .args(&dirs)
        .status();
}

#[test]
fn the_demo_tree_comes_up_from_the_readme_command() {
    // Run as from a shell: `script` gives it a terminal of its own, whose
    // foreground job it is, and passes what it reads to that terminal
    // (the byte 3 is Ctrl-C).
    let bin = bin_dir();
    let cmd = format!("exec {TOP}/examples/run-demo");
    let mut child = on_a_terminal(&cmd)
        .env("DEMO_BIN", &bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("script (util-linux)");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let tree = PathBuf::from(
        first
            .trim()
            .strip_prefix("demo service tree: ")
            .unwrap_or_else(|| panic!("{first:?}")),
    );
    // The rest of the terminal's output is read, so that nothing written
    // to it waits.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    // On failure: svscan (in the terminal's session, not this group) and
    // every supervise go.
    struct Demo(Group, PathBuf, PathBuf);
    impl Drop for Demo {
        fn drop(&mut self) {
            let tree = self.1.to_str().unwrap();
            for pid in pids_of(&["svscan", tree], &self.1) {
                kill("-9", pid);
            }
            let dirs = ["clock", "clock/log", "hello", "hello/log"].map(|d| self.1.join(d));
            let _ = Command::new(self.2.join("svc"))
                .arg("-dx")
                .args(&dirs)
                .status();
        }
    }
    let mut demo = Demo(Group(child), tree.clone(), bin.clone());
    for d in ["clock", "clock/log", "hello", "hello/log"] {
        assert!(
            wait_until(15.0, || svstat(&bin, &tree.join(d)).starts_with("up (pid ")),
            "{d}"
        );
    }
    assert!(wait_until(10.0, || fs::read_to_string(
        tree.join("clock/log/main/current")
    )
    .unwrap_or_default()
    .contains(" clock: started")));
    // Ready means listening: one connection, no retries.
    let o = Command::new(bin.join("svwait"))
        .args(["-U", "-t", "15000"])
        .arg(tree.join("hello"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let mut reply = String::new();
    TcpStream::connect(("127.0.0.1", 5555))
        .unwrap()
        .read_to_string(&mut reply)
        .unwrap();
    assert_eq!(reply, "hello 127.0.0.1, you are the local machine\n");
    // Ctrl-C, as the script says: the tree stops in order and svscan
    // exits 0 (script passes its code on); each log was told to stop only
    // after its service and closed its current cleanly (mode 0744).
    let script = &mut demo.0 .0;
    script.stdin.as_mut().unwrap().write_all(b"\x03").unwrap();
    assert_eq!(exit_within(script, 15.0), Some(0));
    for d in ["clock", "clock/log", "hello", "hello/log"] {
        assert_eq!(svstat(&bin, &tree.join(d)), "supervise not running", "{d}");
    }
    for d in ["clock", "hello"] {
        let current = tree.join(d).join("log/main/current");
        assert_eq!(mode(&current) & 0o777, 0o744, "{d}");
    }
    drop(demo);
    let _ = fs::remove_dir_all(&tree);
}

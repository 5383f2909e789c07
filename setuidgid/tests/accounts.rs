//! setuidgid and envuidgid: real processes; the ids checked in
//! /proc/self/status of the child. CI runs as root; the non-root cases drop
//! privileges inside the test (our own setuidgid, copied where nobody can
//! run it).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use nix::unistd::User;
use testutil::*;

const SETUIDGID: &str = env!("CARGO_BIN_EXE_setuidgid");
const ENVUIDGID: &str = env!("CARGO_BIN_EXE_envuidgid");

fn nobody() -> User {
    User::from_name("nobody")
        .unwrap()
        .expect("an account named nobody")
}

fn field<'a>(status: &'a str, name: &str) -> Vec<&'a str> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .unwrap()
        .split_whitespace()
        .collect()
}

/// Copies a binary into a directory every account can read and search.
fn public_copy(t: &TempDir, bin: &str) -> PathBuf {
    fs::set_permissions(t.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let dst = t.join(PathBuf::from(bin).file_name().unwrap());
    fs::copy(bin, &dst).unwrap();
    fs::set_permissions(&dst, fs::Permissions::from_mode(0o755)).unwrap();
    dst
}

/// [`run`], again while the exec reports "text busy": another test thread
/// may have forked while the copy's descriptor was still open (it is closed
/// at that child's exec).
fn run_copied(bin: &str, args: &[&str], cwd: &std::path::Path) -> Out {
    let mut out = run(bin, args, cwd);
    wait_until(5.0, || {
        if !out.stderr.ends_with("text busy\n") {
            return true;
        }
        out = run(bin, args, cwd);
        false
    });
    out
}

#[test]
fn usage_and_unknown_account() {
    let t = TempDir::new("su-usage");
    for (bin, name) in [(SETUIDGID, "setuidgid"), (ENVUIDGID, "envuidgid")] {
        let usage = format!("{name}: usage: {name} account child\n");
        assert_eq!(run::<&str>(bin, &[], t.path()), Out::new(100, "", &usage));
        assert_eq!(run(bin, &["nobody"], t.path()), Out::new(100, "", &usage));
        assert_eq!(
            run(bin, &["no-such-account", "true"], t.path()),
            Out::new(
                111,
                "",
                &format!("{name}: fatal: unknown account no-such-account\n")
            )
        );
        assert_eq!(
            run(bin, &["nobody", "/nonexistent/prog"], t.path()),
            if name == "setuidgid" && !nix::unistd::geteuid().is_root() {
                Out::new(
                    111,
                    "",
                    "setuidgid: fatal: unable to setgid: permission denied\n",
                )
            } else {
                Out::new(
                    111,
                    "",
                    &format!(
                        "{name}: fatal: unable to run /nonexistent/prog: file does not exist\n"
                    ),
                )
            }
        );
    }
}

#[test]
fn a_fifo_in_place_of_etc_passwd_is_an_unknown_account_not_a_hang() {
    // /etc/passwd a FIFO (bound over it in a mount namespace of the test's
    // own): our reader opens it non-blocking and refuses it, but then asked
    // getent, whose C library waited on it for ever (as the originals'
    // getpwnam does). Now: unknown account, at once.
    let t = TempDir::new("su-fifo");
    let script = format!(
        r#"set -e
mkfifo "$T/passwd"
mount --bind "$T/passwd" /etc/passwd
for p in {SETUIDGID} {ENVUIDGID}; do
    if timeout -s KILL 10 "$p" nobody true 2>> "$T/out"; then echo "ran" >> "$T/out"; fi
done
"#
    );
    run_in_mount_namespace(&script, t.path(), SETUIDGID);
    assert_eq!(
        fs::read_to_string(t.join("out")).unwrap(),
        "setuidgid: fatal: unknown account nobody\n\
         envuidgid: fatal: unknown account nobody\n"
    );
}

#[test]
fn setuidgid_to_nobody() {
    let t = TempDir::new("su-nobody");
    let pw = nobody();
    let o = run(SETUIDGID, &["nobody", "cat", "/proc/self/status"], t.path());
    if !nix::unistd::geteuid().is_root() {
        assert_eq!(
            o,
            Out::new(
                111,
                "",
                "setuidgid: fatal: unable to setgid: permission denied\n"
            )
        );
        return;
    }
    assert_eq!(o.code, 0, "{}", o.stderr);
    let uid = pw.uid.to_string();
    let gid = pw.gid.to_string();
    assert_eq!(field(&o.stdout, "Uid:"), vec![uid.as_str(); 4]);
    assert_eq!(field(&o.stdout, "Gid:"), vec![gid.as_str(); 4]);
    // Supplementary groups: exactly the primary gid.
    assert_eq!(field(&o.stdout, "Groups:"), vec![gid.as_str()]);
    // The environment is left alone.
    let o = run(SETUIDGID, &["nobody", "sh", "-c", "echo $HOME"], t.path());
    assert_eq!(
        o.stdout,
        format!("{}\n", std::env::var("HOME").unwrap_or_default())
    );
}

#[test]
fn setuidgid_without_privileges_fails() {
    if !nix::unistd::geteuid().is_root() {
        return setuidgid_to_nobody();
    }
    // As nobody, becoming root is refused at the first step (groups).
    let t = TempDir::new("su-nonroot");
    let bin = public_copy(&t, SETUIDGID);
    let bin = bin.to_str().unwrap();
    assert_eq!(
        run_copied(SETUIDGID, &["nobody", bin, "root", "true"], t.path()),
        Out::new(
            111,
            "",
            "setuidgid: fatal: unable to setgid: permission denied\n"
        )
    );
    // Even the account it already is: setgroups needs privileges.
    assert_eq!(
        run_copied(SETUIDGID, &["nobody", bin, "nobody", "id", "-u"], t.path()),
        Out::new(
            111,
            "",
            "setuidgid: fatal: unable to setgid: permission denied\n"
        )
    );
}

#[test]
fn envuidgid_sets_uid_and_gid() {
    let t = TempDir::new("eu");
    let pw = nobody();
    let o = run(
        ENVUIDGID,
        &["nobody", "sh", "-c", "echo $UID $GID; id -u"],
        t.path(),
    );
    let me = nix::unistd::geteuid();
    assert_eq!(
        o,
        Out::new(0, &format!("{} {}\n{}\n", pw.uid, pw.gid, me), "")
    );
    let o = run(ENVUIDGID, &["root", "sh", "-c", "echo $UID $GID"], t.path());
    assert_eq!(o, Out::new(0, "0 0\n", ""));
    // Works the same without privileges.
    if me.is_root() {
        let bin = public_copy(&t, ENVUIDGID);
        let o = run_copied(
            SETUIDGID,
            &[
                "nobody",
                bin.to_str().unwrap(),
                "root",
                "sh",
                "-c",
                "echo $UID $GID; id -u",
            ],
            t.path(),
        );
        assert_eq!(o, Out::new(0, &format!("0 0\n{}\n", pw.uid), ""));
    }
}

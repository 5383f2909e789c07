//! softlimit, envdir, setlock and pgrphack: real processes, exact output.

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use testutil::*;

const SOFTLIMIT: &str = env!("CARGO_BIN_EXE_softlimit");
const ENVDIR: &str = env!("CARGO_BIN_EXE_envdir");
const SETLOCK: &str = env!("CARGO_BIN_EXE_setlock");
const PGRPHACK: &str = env!("CARGO_BIN_EXE_pgrphack");

const SOFTLIMIT_USAGE: &str = "softlimit: usage: softlimit [-a allbytes] [-c corebytes] [-d databytes] [-f filebytes] [-l lockbytes] [-m membytes] [-o openfiles] [-p processes] [-r residentbytes] [-s stackbytes] [-t cpusecs] child\n";
const SETLOCK_USAGE: &str = "setlock: usage: setlock [ -nNxX ] file program [ arg ... ]\n";

/// `/proc/PID/limits` as name -> (soft, hard).
fn parse_limits(text: &str) -> HashMap<String, (String, String)> {
    text.lines()
        .skip(1)
        .filter(|l| l.len() > 26)
        .map(|l| {
            let mut f = l[26..].split_whitespace();
            (
                l[..26].trim().to_string(),
                (f.next().unwrap().to_string(), f.next().unwrap().to_string()),
            )
        })
        .collect()
}

fn hard(name: &str) -> u64 {
    let own = parse_limits(&fs::read_to_string("/proc/self/limits").unwrap());
    let h = &own[name].1;
    if h == "unlimited" {
        u64::MAX
    } else {
        h.parse().unwrap()
    }
}

fn show(n: u64) -> String {
    if n == u64::MAX {
        "unlimited".into()
    } else {
        n.to_string()
    }
}

#[test]
fn softlimit_usage() {
    let t = TempDir::new("sl-usage");
    assert_eq!(
        run::<&str>(SOFTLIMIT, &[], t.path()),
        Out::new(100, "", SOFTLIMIT_USAGE)
    );
    assert_eq!(
        run(SOFTLIMIT, &["-o", "5"], t.path()),
        Out::new(100, "", SOFTLIMIT_USAGE)
    );
    assert_eq!(
        run(SOFTLIMIT, &["-z", "true"], t.path()),
        Out::new(
            100,
            "",
            &format!("softlimit: illegal option -- z\n{SOFTLIMIT_USAGE}")
        )
    );
    assert_eq!(
        run(SOFTLIMIT, &["-m"], t.path()),
        Out::new(
            100,
            "",
            &format!("softlimit: option requires an argument -- m\n{SOFTLIMIT_USAGE}")
        )
    );
    assert_eq!(
        run(SOFTLIMIT, &["-m", "12k", "true"], t.path()),
        Out::new(100, "", SOFTLIMIT_USAGE)
    );
    assert_eq!(
        run(SOFTLIMIT, &["-m", "=", "/nonexistent/prog"], t.path()),
        Out::new(
            111,
            "",
            "softlimit: fatal: unable to run /nonexistent/prog: file does not exist\n"
        )
    );
}

#[test]
fn softlimit_each_option_seen_by_the_child() {
    let t = TempDir::new("sl-each");
    let cases: &[(&str, u64, &[&str])] = &[
        ("-a", 2_000_000_000, &["Max address space"]),
        ("-c", 0, &["Max core file size"]),
        ("-d", 1_000_000_000, &["Max data size"]),
        ("-f", 100_000_000, &["Max file size"]),
        ("-l", 32768, &["Max locked memory"]),
        (
            "-m",
            2_000_000_000,
            &[
                "Max data size",
                "Max stack size",
                "Max locked memory",
                "Max address space",
            ],
        ),
        ("-o", 100, &["Max open files"]),
        ("-p", 1000, &["Max processes"]),
        ("-r", 1_000_000_000, &["Max resident set"]),
        ("-s", 4_000_000, &["Max stack size"]),
        ("-t", 100, &["Max cpu time"]),
    ];
    for (opt, value, names) in cases {
        let v = value.to_string();
        let o = run(
            SOFTLIMIT,
            &[opt, v.as_str(), "cat", "/proc/self/limits"],
            t.path(),
        );
        assert_eq!(o.code, 0, "{opt}: {}", o.stderr);
        let got = parse_limits(&o.stdout);
        for name in *names {
            // Above the hard limit, the soft limit is clamped to it.
            let expect = show((*value).min(hard(name)));
            assert_eq!(got[*name].0, expect, "{opt} {name}");
            assert_eq!(
                got[*name].1,
                show(hard(name)),
                "{opt} {name}: hard untouched"
            );
        }
    }
    // Attached values, bundles, and later options overriding earlier ones.
    let o = run(
        SOFTLIMIT,
        &["-o50", "-t", "7", "-o", "60", "cat", "/proc/self/limits"],
        t.path(),
    );
    let got = parse_limits(&o.stdout);
    assert_eq!(got["Max open files"].0, "60");
    assert_eq!(got["Max cpu time"].0, "7");
}

#[test]
fn softlimit_equals_and_clamp_to_hard() {
    let t = TempDir::new("sl-hard");
    let script = format!(
        "ulimit -S -n 50; ulimit -H -n 200; {SOFTLIMIT} -o 1000 sh -c 'ulimit -S -n'; \
         {SOFTLIMIT} -o = sh -c 'ulimit -S -n'; {SOFTLIMIT} -o 10 sh -c 'ulimit -S -n; ulimit -H -n'"
    );
    assert_eq!(
        run("sh", &["-c", &script], t.path()),
        Out::new(0, "200\n200\n10\n200\n", "")
    );
}

#[test]
fn envdir_usage_and_errors() {
    let t = TempDir::new("ed-usage");
    assert_eq!(
        run::<&str>(ENVDIR, &[], t.path()),
        Out::new(111, "", "envdir: usage: envdir dir child\n")
    );
    assert_eq!(
        run(ENVDIR, &["d"], t.path()),
        Out::new(111, "", "envdir: usage: envdir dir child\n")
    );
    assert_eq!(
        run(ENVDIR, &["nodir", "true"], t.path()),
        Out::new(
            111,
            "",
            "envdir: fatal: unable to switch to directory nodir: file does not exist\n"
        )
    );
    fs::create_dir_all(t.join("ed/sub")).unwrap();
    assert_eq!(
        run(ENVDIR, &["ed", "true"], t.path()),
        Out::new(
            111,
            "",
            "envdir: fatal: unable to read ed/sub: is a directory\n"
        )
    );
    fs::remove_dir(t.join("ed/sub")).unwrap();
    assert_eq!(
        run(ENVDIR, &["ed", "/nonexistent/prog"], t.path()),
        Out::new(
            111,
            "",
            "envdir: fatal: unable to run /nonexistent/prog: file does not exist\n"
        )
    );
}

fn env_of(out: &str) -> HashMap<String, String> {
    out.split('\0')
        .filter(|e| !e.is_empty())
        .filter_map(|e| e.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn envdir_file_rules() {
    let t = TempDir::new("ed-rules");
    let ed = t.join("ed");
    fs::create_dir(&ed).unwrap();
    fs::write(ed.join("A"), "value  \t \nsecond line\n").unwrap();
    fs::write(ed.join("HOME"), "").unwrap();
    fs::write(ed.join("N"), "x\0y\0z").unwrap();
    fs::write(ed.join("SP"), "   ").unwrap();
    fs::write(ed.join("NL"), "\nfoo").unwrap();
    fs::write(ed.join("CR"), "a\r\n").unwrap();
    fs::write(ed.join(".H"), "hidden").unwrap();
    fs::write(ed.join("KEEP"), "new").unwrap();
    // Names with `=` split at it (common.md, 5): a set of `SET=x` to `v`
    // sets SET to `x=v`; the removal an empty `DEL=y` asks for is kept as
    // the bare name, which reads as the entry `DEL=y` (the original's way).
    fs::write(ed.join("SET=x"), "v\n").unwrap();
    fs::write(ed.join("DEL=y"), "").unwrap();
    // Divergence: a dangling symlink removes the variable instead of
    // copying another file's value.
    std::os::unix::fs::symlink("/nonexistent/target", ed.join("GONE")).unwrap();
    std::os::unix::fs::symlink("A", ed.join("LINK")).unwrap();
    let o = Command::new(ENVDIR)
        .args(["ed", "env", "-0"])
        .current_dir(t.path())
        .env("HOME", "/root-was-here")
        .env("GONE", "preset")
        .env("KEEP", "old")
        .env("SET", "old")
        .env("DEL", "old")
        .env(".H", "untouched")
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(o.status.success());
    let env = env_of(&String::from_utf8_lossy(&o.stdout));
    assert_eq!(env["A"], "value");
    assert!(!env.contains_key("HOME"));
    assert_eq!(env["N"], "x\ny\nz");
    assert_eq!(env["SP"], "");
    assert_eq!(env["NL"], "");
    assert_eq!(env["CR"], "a\r");
    assert_eq!(env[".H"], "untouched");
    assert_eq!(env["KEEP"], "new");
    assert!(!env.contains_key("GONE"));
    assert_eq!(env["LINK"], "value");
    assert_eq!(env["SET"], "x=v");
    assert_eq!(env["DEL"], "y");
    // The child runs in the starting directory.
    let o = run(ENVDIR, &["ed", "pwd"], t.path());
    assert_eq!(Path::new(o.stdout.trim()), t.path().canonicalize().unwrap());
    // A PATH file is the child's PATH; the child is searched for in
    // envdir's own, as by the original (`env` is not in /nonexistent).
    fs::write(ed.join("PATH"), "/nonexistent\n").unwrap();
    let o = Command::new(ENVDIR)
        .args(["ed", "env", "-0"])
        .current_dir(t.path())
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stderr), "");
    assert_eq!(
        env_of(&String::from_utf8_lossy(&o.stdout))["PATH"],
        "/nonexistent"
    );
}

#[test]
fn setlock_usage_and_errors() {
    let t = TempDir::new("sk-usage");
    assert_eq!(
        run::<&str>(SETLOCK, &[], t.path()),
        Out::new(100, "", SETLOCK_USAGE)
    );
    assert_eq!(
        run(SETLOCK, &["f"], t.path()),
        Out::new(100, "", SETLOCK_USAGE)
    );
    assert_eq!(
        run(SETLOCK, &["-c", "f", "true"], t.path()),
        Out::new(
            100,
            "",
            &format!("setlock: illegal option -- c\n{SETLOCK_USAGE}")
        )
    );
    assert_eq!(
        run(SETLOCK, &["nodir/f", "true"], t.path()),
        Out::new(
            111,
            "",
            "setlock: fatal: unable to open nodir/f: file does not exist\n"
        )
    );
    assert_eq!(
        run(SETLOCK, &["-x", "nodir/f", "true"], t.path()),
        Out::new(0, "", "")
    );
    // -X after -x restores the message.
    assert_eq!(
        run(SETLOCK, &["-xX", "nodir/f", "true"], t.path()),
        Out::new(
            111,
            "",
            "setlock: fatal: unable to open nodir/f: file does not exist\n"
        )
    );
    // -x does not hide a failure to run the program.
    assert_eq!(
        run(SETLOCK, &["-x", "f", "/nonexistent/prog"], t.path()),
        Out::new(
            111,
            "",
            "setlock: fatal: unable to run /nonexistent/prog: file does not exist\n"
        )
    );
}

#[test]
fn setlock_holds_the_lock_until_the_child_exits() {
    let t = TempDir::new("sk-hold");
    fs::write(t.join("lockf"), "keep me\n").unwrap();
    let mut holder = Command::new(SETLOCK)
        .args(["lockf", "sleep", "1000"])
        .current_dir(t.path())
        .spawn()
        .unwrap();
    // The exec'd child (sleep) holds the lock: -n fails until it exits.
    let busy = Out::new(
        111,
        "",
        "setlock: fatal: unable to lock lockf: temporary failure\n",
    );
    assert!(wait_until(5.0, || run(
        SETLOCK,
        &["-n", "lockf", "true"],
        t.path()
    ) == busy));
    assert_eq!(
        run(SETLOCK, &["-nx", "lockf", "echo", "ran"], t.path()),
        Out::new(0, "", "")
    );
    assert_eq!(
        run(SETLOCK, &["-xn", "lockf", "echo", "ran"], t.path()),
        Out::new(0, "", "")
    );
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert_eq!(
        run(SETLOCK, &["-n", "lockf", "echo", "ran"], t.path()),
        Out::new(0, "ran\n", "")
    );
    // Never truncated, created 0600.
    assert_eq!(fs::read_to_string(t.join("lockf")).unwrap(), "keep me\n");
    assert_eq!(run(SETLOCK, &["newlock", "true"], t.path()).code, 0);
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(t.join("newlock"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode & !0o600, 0, "mode {mode:o}");
    // The blocking default waits for the lock.
    let mut holder = Command::new(SETLOCK)
        .args(["lockf", "sleep", "1000"])
        .current_dir(t.path())
        .spawn()
        .unwrap();
    assert!(wait_until(5.0, || run(
        SETLOCK,
        &["-n", "lockf", "true"],
        t.path()
    ) == busy));
    let mut waiter = Command::new(SETLOCK)
        .args(["-N", "lockf", "touch", "got-it"])
        .current_dir(t.path())
        .spawn()
        .unwrap();
    assert!(!wait_until(0.3, || t.join("got-it").exists()));
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(wait_until(5.0, || t.join("got-it").exists()));
    assert!(waiter.wait().unwrap().success());
}

#[test]
fn setlock_child_inherits_the_descriptor() {
    let t = TempDir::new("sk-fd");
    let o = run(
        SETLOCK,
        &["lockf", "sh", "-c", "readlink /proc/$$/fd/3"],
        t.path(),
    );
    assert_eq!(o.code, 0);
    assert_eq!(
        Path::new(o.stdout.trim()),
        t.path().canonicalize().unwrap().join("lockf")
    );
}

#[test]
fn pgrphack_makes_a_group_leader() {
    let t = TempDir::new("pg");
    assert_eq!(
        run::<&str>(PGRPHACK, &[], t.path()),
        Out::new(100, "", "pgrphack: usage: pgrphack child\n")
    );
    assert_eq!(
        run(PGRPHACK, &["/nonexistent/prog"], t.path()),
        Out::new(
            111,
            "",
            "pgrphack: fatal: unable to run /nonexistent/prog: file does not exist\n"
        )
    );
    let o = run(
        PGRPHACK,
        &["sh", "-c", "cat /proc/$$/stat; echo $$"],
        t.path(),
    );
    assert_eq!(o.code, 0);
    let mut lines = o.stdout.lines();
    let stat = lines.next().unwrap();
    let pid = lines.next().unwrap();
    let f: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    // Fields after the name: state, ppid, pgrp, session.
    assert_eq!(f[2], pid, "process group");
    assert_eq!(f[3], pid, "session");
    assert_eq!(run(PGRPHACK, &["sh", "-c", "exit 9"], t.path()).code, 9);
}

#[test]
fn envdir_entries_that_are_fifos_or_endless_never_hang() {
    let t = TempDir::new("envdir-special");
    fs::create_dir(t.join("e")).unwrap();
    // A FIFO nobody writes to reads as empty (the original's non-blocking
    // open_read): the variable is removed.
    nix::unistd::mkfifo(
        &t.join("e/X"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    fs::write(t.join("e/Y"), "v\n").unwrap();
    let o = run_within(
        10.0,
        ENVDIR,
        &["e", "sh", "-c", "echo \"X=${X-unset} Y=$Y\""],
        t.path(),
        None,
    );
    assert_eq!(o, Out::new(0, "X=unset Y=v\n", ""));
    // An entry without end (/dev/zero): a clean error, not all the memory.
    fs::create_dir(t.join("z")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", t.join("z/Z")).unwrap();
    let o = run_within(10.0, ENVDIR, &["z", "true"], t.path(), None);
    assert_eq!(
        o,
        Out::new(
            111,
            "",
            "envdir: fatal: unable to read z/Z: out of memory\n"
        )
    );
}

#[test]
fn an_entry_too_large_for_the_memory_left_is_out_of_memory_not_a_crash() {
    // Under an address-space limit, envdir reading an entry that does not
    // fit says so as the C envdir does, naming it, and an allocation that
    // fails later ends with `envdir: fatal: out of memory`: exit 111, never
    // an abort.
    let t = TempDir::new("envdir-oom");
    fs::create_dir_all(t.join("small")).unwrap();
    fs::write(t.join("small/X"), "x\n").unwrap();
    fs::create_dir_all(t.join("big")).unwrap();
    fs::write(t.join("big/BIG"), vec![b'x'; 1_000_000]).unwrap();
    let run = |limit: usize, dir: &str| {
        let o = std::process::Command::new(SOFTLIMIT)
            .args(["-a", &limit.to_string(), ENVDIR, dir, "true"])
            .current_dir(t.path())
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    // The smallest limit this build starts and runs `true` under.
    let step = 128 * 1024;
    let start = (8..1024)
        .map(|i| i * step)
        .find(|&l| run(l, "small") == (Some(0), String::new()))
        .expect("envdir never ran under 128 MiB");
    let mut named = 0;
    for l in (start..start + 4 * 1024 * 1024).step_by(step) {
        let (code, err) = run(l, "big");
        match err.as_str() {
            "envdir: fatal: unable to read big/BIG: out of memory\n" => named += 1,
            "envdir: fatal: out of memory\n"
            | "envdir: fatal: unable to run true: argument list too long\n" => {}
            other => panic!("under -a {l}: {code:?} {other:?}"),
        }
        assert_eq!(code, Some(111), "under -a {l}: {err}");
    }
    assert!(
        named > 0,
        "the read never failed: the limits tried are too high"
    );
}

//! A standard descriptor closed when a program starts (`<&-`, `>&-`), side
//! by side with the C originals. The Rust runtime puts /dev/null there
//! before `main`; ours notes the closed ones first (`sys::closed_at_start`),
//! so that reading or writing them fails as the originals' reads and
//! writes do, and a chain-loader passes them on closed.

use std::path::Path;

use testutil::*;

/// `prog args` run by `sh -c 'exec "$0" "$@" REDIRECT'` with `a\nb\n` on
/// stdin: the exit code and stderr, pids as `PID`: a number that begins a
/// line (recordio's `pid < ...`, of any length: a fresh container's pids
/// have three digits) or has four digits or more. stderr is read to its
/// end: recordio's copier writes its last line after the program ends.
fn closed(prog: &Path, args: &[&str], redirect: &str, cwd: &Path) -> (i32, String) {
    let script = format!("exec \"$0\" \"$@\" {redirect}");
    let mut all = vec!["-c", &script, prog.to_str().unwrap()];
    all.extend_from_slice(args);
    let (code, _, stderr) = run_input_within(10.0, "sh", &all, b"a\nb\n", cwd);
    let mut err = String::new();
    for line in String::from_utf8_lossy(&stderr).split_inclusive('\n') {
        let mut run = String::new();
        let mut first = true;
        for c in line.chars().chain(['\0']) {
            if c.is_ascii_digit() {
                run.push(c);
                continue;
            }
            let pid = run.len() >= 4 || (first && !run.is_empty());
            err.push_str(if pid { "PID" } else { &run });
            first = false;
            run.clear();
            err.push(c);
        }
        err.pop();
    }
    (code, err)
}

#[test]
fn readers_and_writers_fail_on_a_closed_descriptor_as_the_originals() {
    let t = TempDir::new("e2e-closed");
    let cases: &[(&str, &[&str])] = &[
        ("tai64n", &[]),
        ("tai64nlocal", &[]),
        ("addcr", &[]),
        ("delcr", &[]),
        ("readproctitle", &["x", "....."]),
        ("multilog", &["e"]),
        ("fixcrio", &["cat"]),
        ("recordio", &["cat"]),
        ("tcprules", &["rules.cdb", "rules.tmp"]),
    ];
    for &(name, args) in cases {
        for redirect in ["<&-", ">&-", "<&- >&-", "</dev/null >&-"] {
            let ours = closed(&bin_dir().join(name), args, redirect, t.path());
            let theirs = closed(&reference_bin(name), args, redirect, t.path());
            assert_eq!(ours, theirs, "{name} {redirect}");
        }
    }
}

#[test]
fn chain_loaders_pass_a_closed_descriptor_on_closed() {
    let t = TempDir::new("e2e-closed-chain");
    // What the program run at the end sees, on stderr.
    let report = "for f in 0 1 2; do if [ -e /proc/$$/fd/$f ]; then echo open $f >&2; \
                  else echo closed $f >&2; fi; done";
    // tcpclient passes them on too, beside the socket on 6 and 7.
    let server = Listening::start(
        bin_dir().join("tcpserver").to_str().unwrap(),
        &["-RHl0", "127.0.0.1", "0", "true"],
        &[],
        t.path(),
    );
    let port = server.port.to_string();
    let cases: &[(&str, &[&str])] = &[
        ("softlimit", &["-m", "100000000"]),
        ("setuidgid", &["root"]),
        ("envuidgid", &["root"]),
        ("envdir", &["."]),
        ("pgrphack", &[]),
        ("argv0", &["sh"]),
        ("fghack", &[]),
        ("tcpclient", &["-RHl0", "127.0.0.1", &port]),
    ];
    for &(name, args) in cases {
        let mut args = args.to_vec();
        args.extend(["sh", "-c", report]);
        for redirect in ["<&-", ">&-", "<&- >&-"] {
            let ours = closed(&bin_dir().join(name), &args, redirect, t.path());
            let theirs = closed(&reference_bin(name), &args, redirect, t.path());
            assert_eq!(ours, theirs, "{name} {redirect}");
            let (_, err) = ours;
            for fd in 0..2 {
                let shut = redirect.contains(&format!("{}&-", ["<", ">"][fd]));
                let said = if shut { "closed" } else { "open" };
                // fghack's dups take the free numbers, as the original's.
                if name != "fghack" {
                    assert!(
                        err.contains(&format!("{said} {fd}\n")),
                        "{name} {redirect}: {err}"
                    );
                }
            }
        }
    }
}

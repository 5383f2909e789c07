//! fghack with real children and grandchildren.

mod util;

use std::time::{Duration, Instant};

use util::*;

#[test]
fn usage() {
    let t = TempDir::new("fg-usage");
    assert_eq!(
        run::<&str>(FGHACK, &[], t.path()),
        Out::new(100, "", "fghack: usage: fghack child\n")
    );
}

#[test]
fn exit_code_of_the_child() {
    let t = TempDir::new("fg-code");
    assert_eq!(
        run(FGHACK, &["sh", "-c", "exit 7"], t.path()),
        Out::new(7, "", "")
    );
    assert_eq!(run(FGHACK, &["true"], t.path()), Out::new(0, "", ""));
}

#[test]
fn crashed_child() {
    let t = TempDir::new("fg-crash");
    assert_eq!(
        run(FGHACK, &["sh", "-c", "kill -9 $$"], t.path()),
        Out::new(111, "", "fghack: fatal: child crashed\n")
    );
    // A real-time signal too, as the original says.
    let rt = format!("kill -{} $$", nix::libc::SIGRTMIN() + 3);
    assert_eq!(
        run(FGHACK, &["sh", "-c", &rt], t.path()),
        Out::new(111, "", "fghack: fatal: child crashed\n")
    );
}

#[test]
fn unable_to_run() {
    let t = TempDir::new("fg-norun");
    assert_eq!(
        run(FGHACK, &["/nonexistent/prog"], t.path()),
        Out::new(
            111,
            "",
            "fghack: fatal: unable to run /nonexistent/prog: file does not exist\n"
        )
    );
}

#[test]
fn child_sees_31_descriptors_on_the_pipe() {
    let t = TempDir::new("fg-fds");
    // The largest group of the shell's descriptors sharing one pipe.
    let o = run(
        FGHACK,
        &[
            "sh",
            "-c",
            "for f in /proc/$$/fd/*; do readlink $f; done | sort | uniq -c | sort -rn | head -n 1",
        ],
        t.path(),
    );
    assert_eq!(o.code, 0);
    let n = o.stdout.split_whitespace().next().unwrap_or("");
    assert_eq!(n, "31", "{}", o.stdout);
    assert!(o.stdout.contains("pipe:"), "{}", o.stdout);
}

#[test]
fn waits_for_a_background_grandchild() {
    let t = TempDir::new("fg-bg");
    let start = Instant::now();
    let o = run(
        FGHACK,
        &["sh", "-c", "sleep 1 >/dev/null 2>&1 & exit 3"],
        t.path(),
    );
    assert_eq!(o, Out::new(3, "", ""));
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
}

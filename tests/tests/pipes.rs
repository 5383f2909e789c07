//! A reader that goes away: the filters and the one-shot programs whose
//! originals leave SIGPIPE at its default die of it when their output is a
//! pipe nobody reads any more, as the C programs do. A shell sees 141, and
//! scripts under `set -o pipefail` that allow 141 (`tai64nlocal < current
//! | head`) keep working. Side by side with the C originals.

use std::fs;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};

use testutil::*;

/// How `prog args` ends when its stdout is a pipe whose reader has gone,
/// fed `input`: the signal that ended it, or its exit code.
fn ending(prog: &Path, args: &[&str], input: &[u8], cwd: &Path) -> String {
    let (r, w) = nix::unistd::pipe().unwrap();
    drop(r);
    let mut c = Command::new(prog)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(w)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = c.stdin.take().unwrap();
    // The program may die before it has read everything.
    let _ = stdin.write_all(input);
    drop(stdin);
    let o = c.wait_with_output().unwrap();
    match o.status.signal() {
        Some(s) => format!("signal {s}"),
        None => format!(
            "exit {} {}",
            o.status.code().unwrap(),
            String::from_utf8_lossy(&o.stderr)
        ),
    }
}

#[test]
fn output_to_a_pipe_without_a_reader_ends_them_as_the_originals() {
    let t = TempDir::new("e2e-pipes");
    let lines: Vec<u8> = (0..20_000)
        .flat_map(|i| format!("line {i}\r\n").into_bytes())
        .collect();
    let stamped: Vec<u8> = (0..20_000)
        .flat_map(|i| format!("@400000006b14b0ce0587{i:04} line\n").into_bytes())
        .collect();
    // A status for svstat, and a rules database for tcprulescheck.
    let dirs: Vec<String> = (0..3000).map(|i| format!("d{i}")).collect();
    fs::create_dir_all(t.join("rules")).unwrap();
    let tcprules = bin_dir().join("tcprules");
    let long = format!(":allow,A=\"{}\"\n", "x".repeat(100_000));
    compile_rules(tcprules.to_str().unwrap(), &t.join("rules"), "r.cdb", &long);
    let dir_args: Vec<&str> = dirs.iter().map(String::as_str).collect();
    let cases: [(&str, Vec<&str>, &[u8], &Path); 6] = [
        ("tai64n", vec![], &lines, t.path()),
        ("tai64nlocal", vec![], &stamped, t.path()),
        ("addcr", vec![], &lines, t.path()),
        ("delcr", vec![], &lines, t.path()),
        ("svstat", dir_args, b"", t.path()),
        ("tcprulescheck", vec!["r.cdb"], b"", &t.join("rules")),
    ];
    for (name, args, input, cwd) in cases {
        let ours = ending(&bin_dir().join(name), &args, input, cwd);
        let theirs = ending(&reference_bin(name), &args, input, cwd);
        assert_eq!(ours, theirs, "{name}");
        assert_eq!(ours, "signal 13", "{name}");
    }
}

/// What `prog` writes at once for `input` left without a newline, its
/// input kept open: read within a deadline, the TAI64N label cut off.
fn partial_line(prog: &Path, input: &[u8]) -> Vec<u8> {
    let mut cmd = Command::new(prog);
    cmd.stderr(Stdio::null());
    let got = output_while_open(&mut cmd, input, 10.0, |o| !o.is_empty());
    match got.strip_prefix(b"@") {
        Some(rest) if rest.len() >= 24 => rest[24..].to_vec(),
        _ => got,
    }
}

/// How `prog` ends when descriptor 1 is open for reading only, so that
/// every write fails (EBADF).
fn write_failing(prog: &Path, input: &[u8], dir: &Path) -> Option<i32> {
    let file = dir.join("read-only");
    fs::write(&file, b"").unwrap();
    let mut c = Command::new(prog)
        .stdin(Stdio::piped())
        .stdout(fs::File::open(&file).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = c.stdin.take().unwrap();
    let _ = stdin.write_all(input);
    drop(stdin);
    c.wait().unwrap().code()
}

#[test]
fn the_filters_write_a_partial_line_at_once_and_fail_on_a_write_error_as_the_originals() {
    // A prompt without a newline reaches the reader while the filter waits
    // for more; and a descriptor 1 that cannot be written ends the filter
    // with 111. Ours held the partial line in a line buffer until a
    // newline, and took EBADF for a write that worked (exit 0, the output
    // gone).
    let t = TempDir::new("e2e-partial");
    for (name, input, shown) in [
        ("tai64n", &b"login: "[..], &b" login: "[..]),
        ("tai64nlocal", b"no label yet", b"no label yet"),
        ("addcr", b"a\nb", b"a\r\nb"),
        ("delcr", b"a\r\nb", b"a\nb"),
    ] {
        let ours = partial_line(&bin_dir().join(name), input);
        let theirs = partial_line(&reference_bin(name), input);
        assert_eq!(ours, theirs, "{name}");
        assert_eq!(ours, shown, "{name}");
        let ours = write_failing(&bin_dir().join(name), b"line\n", t.path());
        let theirs = write_failing(&reference_bin(name), b"line\n", t.path());
        assert_eq!((ours, theirs), (Some(111), Some(111)), "{name}");
    }
}

/// fghack and readproctitle write to no pipe, and their originals leave
/// SIGPIPE at its default: a `kill -PIPE` ends them, ours as the C ones
/// (ours lived through it while they kept the Rust runtime's ignore).
/// Each is sent the signal
/// once it is at work: fghack has started its child, readproctitle has
/// shown a line of its input.
#[test]
fn a_sigpipe_sent_to_fghack_or_readproctitle_ends_it_as_the_originals() {
    use std::os::unix::process::CommandExt;
    let t = TempDir::new("e2e-sigpipe");
    for (name, args) in [
        ("fghack", &["sleep", "1000"][..]),
        ("readproctitle", &["x", "......................"][..]),
    ] {
        let ends: Vec<String> = [bin_dir().join(name), reference_bin(name)]
            .iter()
            .map(|bin| {
                let mut c = Command::new(bin)
                    .args(args)
                    .current_dir(t.path())
                    .process_group(0)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                let mut stdin = c.stdin.take().unwrap();
                stdin.write_all(b"at work\n").unwrap();
                let pid = c.id();
                let at_work = wait_until(10.0, || match name {
                    "fghack" => children_of(pid).iter().any(|k| k.comm == "sleep"),
                    _ => fs::read(format!("/proc/{pid}/cmdline"))
                        .is_ok_and(|l| l.windows(7).any(|w| w == b"at work")),
                });
                assert!(at_work, "{}", bin.display());
                kill("PIPE", pid);
                let ended = exit_within_status(&mut c, 10.0);
                kill_group("KILL", pid);
                drop(stdin);
                let _ = c.wait();
                ended
            })
            .collect();
        assert_eq!(ends[0], ends[1], "{name}");
        assert_eq!(ends[0], "signal 13", "{name}");
    }
}

/// How `c` ended within `secs`: `signal N`, `exit N`, or `running`.
fn exit_within_status(c: &mut std::process::Child, secs: f64) -> String {
    let mut ended = None;
    wait_until(secs, || {
        ended = c.try_wait().unwrap();
        ended.is_some()
    });
    match ended {
        None => "running".into(),
        Some(st) => match st.signal() {
            Some(s) => format!("signal {s}"),
            None => format!("exit {}", st.code().unwrap_or(-1)),
        },
    }
}

//! svc, svok and svstat against directories the test sets up by hand: a new
//! directory, a missing one, FIFOs with and without a reader, and status
//! records crafted byte by byte. Golden transcripts with exit codes.

mod util;

use std::fs::{self, File};
use std::io::Read;
use std::path::Path;

use util::*;

const SVC_OPTIONS: &str = "svc options: u up, d down, o once, x exit, p pause, c continue, h hup, a alarm, i interrupt, t term, k kill\n";

fn mkfifo(p: &Path) {
    nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
}

/// A service directory that looks supervised: supervise/ok and control
/// FIFOs held open for reading by the test, and the given status bytes.
struct Fake {
    _ok: File,
    control: File,
}

fn fake(root: &Path, name: &str, status: Option<&[u8]>) -> Fake {
    let sup = root.join(name).join("supervise");
    fs::create_dir_all(&sup).unwrap();
    if let Some(b) = status {
        fs::write(sup.join("status"), b).unwrap();
    }
    Fake {
        _ok: fifo_with_reader(&sup.join("ok")),
        control: fifo_with_reader(&sup.join("control")),
    }
}

/// A status record `secs_ago` seconds old.
fn record(secs_ago: u64, pid: u32, paused: u8, want: u8) -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut b = Vec::new();
    b.extend_from_slice(&((1u64 << 62) + 10 + now - secs_ago).to_be_bytes());
    b.extend_from_slice(&123_456_500u32.to_be_bytes());
    b.extend_from_slice(&pid.to_le_bytes());
    b.push(paused);
    b.push(want);
    b
}

#[test]
fn new_directory() {
    let t = TempDir::new("new");
    fs::create_dir(t.join("new")).unwrap();
    assert_eq!(
        run(SVSTAT, &["new"], t.path()),
        Out::new(
            0,
            "new: unable to open supervise/ok: file does not exist\n",
            ""
        )
    );
    assert_eq!(
        run(SVC, &["-u", "new"], t.path()),
        Out::new(
            0,
            "",
            "svc: warning: unable to control new: file does not exist\n"
        )
    );
    assert_eq!(run(SVOK, &["new"], t.path()), Out::new(100, "", ""));
}

#[test]
fn missing_directory() {
    let t = TempDir::new("missing");
    assert_eq!(
        run(SVSTAT, &["nonexist"], t.path()),
        Out::new(0, "nonexist: unable to chdir: file does not exist\n", "")
    );
    assert_eq!(
        run(SVC, &["-d", "nonexist"], t.path()),
        Out::new(
            0,
            "",
            "svc: warning: unable to chdir to nonexist: file does not exist\n"
        )
    );
    assert_eq!(
        run(SVOK, &["nonexist"], t.path()),
        Out::new(
            111,
            "",
            "svok: fatal: unable to chdir to nonexist: file does not exist\n"
        )
    );
}

#[test]
fn supervise_not_running() {
    // FIFOs exist but nobody reads them: the ENXIO test.
    let t = TempDir::new("notrunning");
    let sup = t.join("a/supervise");
    fs::create_dir_all(&sup).unwrap();
    mkfifo(&sup.join("ok"));
    mkfifo(&sup.join("control"));
    fs::write(sup.join("status"), record(5, 0, 0, b'u')).unwrap();
    assert_eq!(
        run(SVSTAT, &["a"], t.path()),
        Out::new(0, "a: supervise not running\n", "")
    );
    assert_eq!(
        run(SVC, &["-u", "a"], t.path()),
        Out::new(
            0,
            "",
            "svc: warning: unable to control a: supervise not running\n"
        )
    );
    assert_eq!(run(SVOK, &["a"], t.path()), Out::new(100, "", ""));
}

#[test]
fn usage_lines() {
    let t = TempDir::new("usage");
    assert_eq!(
        run::<&str>(SVOK, &[], t.path()),
        Out::new(100, "", "svok: usage: svok dir\n")
    );
    assert_eq!(
        run(SVC, &["-z", "a"], t.path()),
        Out::new(100, "", &format!("svc: illegal option -- z\n{SVC_OPTIONS}"))
    );
    assert_eq!(
        run(SVC, &["-uy"], t.path()),
        Out::new(100, "", &format!("svc: illegal option -- y\n{SVC_OPTIONS}"))
    );
    // No arguments at all: nothing to do.
    assert_eq!(run::<&str>(SVC, &[], t.path()), Out::new(0, "", ""));
    assert_eq!(run::<&str>(SVSTAT, &[], t.path()), Out::new(0, "", ""));
}

#[test]
fn svc_writes_each_letter_once_in_order_of_first_appearance() {
    let t = TempDir::new("bytes");
    let mut f = fake(t.path(), "s", Some(&record(1, 0, 0, b'd')));
    let o = run(SVC, &["-dxudh", "-k", "-dd", "s"], t.path());
    assert_eq!(o, Out::new(0, "", ""));
    let mut got = Vec::new();
    f.control.read_to_end(&mut got).ok();
    assert_eq!(got, b"dxuhk");
    // Every option maps to its own byte.
    let o = run(
        SVC,
        &[
            "-u", "-d", "-o", "-p", "-c", "-h", "-a", "-i", "-t", "-k", "-x", "s",
        ],
        t.path(),
    );
    assert_eq!(o.code, 0);
    let mut got = Vec::new();
    f.control.read_to_end(&mut got).ok();
    assert_eq!(got, b"udopchaitkx");
    // `--` ends the options; several directories in order.
    let o = run(SVC, &["-t", "--", "s", "nope", "s"], t.path());
    assert_eq!(
        o,
        Out::new(
            0,
            "",
            "svc: warning: unable to chdir to nope: file does not exist\n"
        )
    );
    let mut got = Vec::new();
    f.control.read_to_end(&mut got).ok();
    assert_eq!(got, b"tt");
}

#[test]
fn svok_running() {
    let t = TempDir::new("svok");
    let _f = fake(t.path(), "s", Some(&record(1, 0, 0, b'd')));
    assert_eq!(run(SVOK, &["s", "extra"], t.path()), Out::new(0, "", ""));
}

#[test]
fn svstat_every_line() {
    // The records are made some seconds old, then svstat runs: a second
    // boundary between the two shifts every age by one. Done again (in a
    // fresh directory) when that happened, never more than twice.
    let mut last = None;
    for _ in 0..3 {
        let (got, want) = svstat_every_line_once();
        if got == want {
            return;
        }
        last = Some((got, want));
    }
    let (got, want) = last.unwrap();
    assert_eq!(got, want);
}

fn svstat_every_line_once() -> (Out, Out) {
    let t = TempDir::new("lines");
    let cases: Vec<(&str, Vec<u8>, bool, &str)> = vec![
        (
            "up",
            record(1, 7345, 0, b'u'),
            false,
            "up (pid 7345) 1 seconds",
        ),
        (
            "paused",
            record(4, 7345, 1, b'u'),
            false,
            "up (pid 7345) 4 seconds, paused",
        ),
        (
            "down",
            record(0, 0, 0, b'd'),
            false,
            "down 0 seconds, normally up",
        ),
        (
            "normdown",
            record(0, 7601, 0, b'u'),
            true,
            "up (pid 7601) 0 seconds, normally down",
        ),
        (
            "wantup",
            record(100, 0, 0, b'u'),
            false,
            "down 100 seconds, normally up, want up",
        ),
        (
            "wantup2",
            record(100, 0, 0, b'u'),
            true,
            "down 100 seconds, want up",
        ),
        (
            "wantdown",
            record(5, 123, 1, b'd'),
            false,
            "up (pid 123) 5 seconds, paused, want down",
        ),
        (
            "all",
            record(5, 123, 1, b'd'),
            true,
            "up (pid 123) 5 seconds, normally down, paused, want down",
        ),
        ("once", record(3, 0, 0, 0), true, "down 3 seconds"),
        (
            "bigpid",
            record(2, u32::MAX, 0, b'u'),
            false,
            "up (pid 4294967295) 2 seconds",
        ),
    ];
    let mut fakes = Vec::new();
    let mut expect = String::new();
    let mut args = Vec::new();
    for (name, bytes, down, text) in &cases {
        fakes.push(fake(t.path(), name, Some(bytes)));
        if *down {
            fs::write(t.join(name).join("down"), "").unwrap();
        }
        expect.push_str(&format!("{name}: {text}\n"));
        args.push(*name);
    }
    // A timestamp in the future counts as 0 seconds.
    let mut future = record(0, 5, 0, b'u');
    future[..8].copy_from_slice(&((1u64 << 62) + 10 + 4_000_000_000).to_be_bytes());
    fakes.push(fake(t.path(), "future", Some(&future)));
    args.push("future");
    expect.push_str("future: up (pid 5) 0 seconds\n");
    // 17 bytes: bad format; no status: cannot open.
    fakes.push(fake(t.path(), "short", Some(&record(0, 5, 0, b'u')[..17])));
    args.push("short");
    expect.push_str("short: unable to read supervise/status: bad format\n");
    fakes.push(fake(t.path(), "nostatus", None));
    args.push("nostatus");
    expect.push_str("nostatus: unable to open supervise/status: file does not exist\n");
    // Divergence: a status that cannot be read says why instead of
    // formatting stale bytes.
    fakes.push(fake(t.path(), "dirstatus", None));
    fs::create_dir(t.join("dirstatus/supervise/status")).unwrap();
    args.push("dirstatus");
    expect.push_str("dirstatus: unable to read supervise/status: is a directory\n");
    // Arguments starting with `-` are directories too.
    args.push("-x");
    expect.push_str("-x: unable to chdir: file does not exist\n");
    let got = run(SVSTAT, &args, t.path());
    drop(fakes);
    (got, Out::new(0, &expect, ""))
}

#[test]
fn svstat_on_a_status_that_is_a_fifo_does_not_hang() {
    // supervise "runs" (its ok FIFO has a reader: this test), but status is
    // a FIFO nobody writes: read non-blocking, it is empty, a bad format.
    let t = TempDir::new("statusfifo");
    let sup = t.join("f/supervise");
    fs::create_dir_all(&sup).unwrap();
    mkfifo(&sup.join("status"));
    let _reader = fifo_with_reader(&sup.join("ok"));
    assert_eq!(
        run_within(10.0, SVSTAT, &["f"], t.path(), None),
        Out::new(0, "f: unable to read supervise/status: bad format\n", "")
    );
}

#[test]
fn a_full_control_fifo_is_waited_for_then_given_up_on() {
    // A supervise that reads nothing (stopped, or stuck) and a control
    // FIFO full: the original switched to a blocking write and hung for
    // ever, never telling the directories after it. Ours waits five
    // seconds for room, warns, and goes on.
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let t = TempDir::new("fullfifo");
    let stuck = fake(t.path(), "stuck", Some(&record(5, 0, 0, b'u')));
    let mut other = fake(t.path(), "other", Some(&record(5, 0, 0, b'u')));
    let mut w = fs::OpenOptions::new()
        .write(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(t.join("stuck/supervise/control"))
        .unwrap();
    while w.write(&[b'a'; 4096]).is_ok() {}
    let start = std::time::Instant::now();
    let out = run_within(20.0, SVC, &["-d", "stuck", "other"], t.path(), None);
    let took = start.elapsed();
    assert_eq!(
        out,
        Out::new(
            0,
            "",
            "svc: warning: error writing commands to stuck: temporary failure\n"
        )
    );
    assert!(took >= std::time::Duration::from_secs(4), "{took:?}");
    let mut got = [0u8; 8];
    let n = other.control.read(&mut got).unwrap();
    assert_eq!(&got[..n], b"d");
    drop(stuck);
}

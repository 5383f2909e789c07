//! multilog, tai64n and tai64nlocal: real processes, directories and bytes.

use nix::sys::stat::Mode;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use testutil::*;

const MULTILOG: &str = env!("CARGO_BIN_EXE_multilog");
const TAI64N: &str = env!("CARGO_BIN_EXE_tai64n");
const TAI64NLOCAL: &str = env!("CARGO_BIN_EXE_tai64nlocal");

/// Runs a program with `input` on stdin; exit code, stdout, stderr.
fn feed(
    bin: &str,
    args: &[&str],
    input: &[u8],
    cwd: &Path,
    env: &[(&str, &str)],
) -> (i32, Vec<u8>, String) {
    let (code, out, err) = run_input(bin, args, input, cwd, env, &[]);
    (code, out, String::from_utf8_lossy(&err).into_owned())
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// The old files of a log directory, sorted: (name, mode, contents).
fn old_files(dir: &Path) -> Vec<(String, u32, Vec<u8>)> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('@'))
        .map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            (n, mode(&e.path()), fs::read(e.path()).unwrap())
        })
        .collect();
    v.sort();
    v
}

fn is_label(s: &str) -> bool {
    s.len() == 25
        && s.starts_with("@4")
        && s[1..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Strips `@<label> ` from each line, checking the label's form.
fn unstamp(text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        assert!(is_label(&line[..25]), "label of {line:?}");
        assert_eq!(&line[25..26], " ");
        out.push_str(&line[26..]);
    }
    out
}

#[test]
fn startup_errors() {
    let t = TempDir::new("ml-err");
    fs::write(t.join("notadir"), "").unwrap();
    let (code, _, err) = feed(MULTILOG, &["./notadir"], b"hi\n", t.path(), &[]);
    assert_eq!(
        (code, err.as_str()),
        (
            111,
            "multilog: fatal: unable to open directory ./notadir: not a directory\n"
        )
    );
    let (code, _, err) = feed(
        MULTILOG,
        &["=/nonexistent/dir/file"],
        b"hi\n",
        t.path(),
        &[],
    );
    assert_eq!(
        (code, err.as_str()),
        (
            111,
            "multilog: fatal: unable to create /nonexistent/dir/file: file does not exist\n"
        )
    );
    // A second multilog on a directory in use.
    let mut first = Command::new(MULTILOG)
        .arg("./lu")
        .current_dir(t.path())
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_until(5.0, || t.join("lu/current").exists()));
    let (code, _, err) = feed(MULTILOG, &["./lu"], b"hi\n", t.path(), &[]);
    assert_eq!(
        (code, err.as_str()),
        (
            111,
            "multilog: fatal: unable to lock directory ./lu: temporary failure\n"
        )
    );
    drop(first.stdin.take());
    assert!(first.wait().unwrap().success());
    // No arguments: input read and discarded.
    assert_eq!(
        feed(MULTILOG, &[], b"x\ny", t.path(), &[]),
        (0, vec![], String::new())
    );
}

#[test]
fn actions_golden() {
    let t = TempDir::new("ml-actions");
    let input = b"alpha one\nbeta two\nalpha three\ngamma\n\npartial";
    let (code, out, err) = feed(
        MULTILOG,
        &[
            "-alpha*",
            "./notalpha",
            "+alpha t*",
            "e",
            "=status",
            "./alphat",
            "-*",
            "+gamma",
            "./gamma",
            "ignored",
            "tnot-first",
        ],
        input,
        t.path(),
        &[],
    );
    assert_eq!(code, 0);
    assert!(out.is_empty());
    assert_eq!(
        fs::read_to_string(t.join("notalpha/current")).unwrap(),
        "beta two\ngamma\n\npartial\n"
    );
    assert_eq!(
        fs::read_to_string(t.join("alphat/current")).unwrap(),
        "beta two\nalpha three\ngamma\n\npartial\n"
    );
    assert_eq!(
        fs::read_to_string(t.join("gamma/current")).unwrap(),
        "gamma\n"
    );
    assert_eq!(err, "beta two\nalpha three\ngamma\n\npartial\n");
    // The status file: the last selected line, newline-padded to 1001 bytes.
    let st = fs::read(t.join("status")).unwrap();
    assert_eq!(st.len(), 1001);
    assert_eq!(&st[..8], b"partial\n");
    assert!(st[7..].iter().all(|&b| b == b'\n'));
    assert_eq!(mode(&t.join("status")), 0o600);
    // A clean exit: modes and files as the original leaves them.
    let d = t.join("gamma");
    assert_eq!(mode(&d), 0o700);
    assert_eq!(mode(&d.join("current")), 0o744);
    assert_eq!(mode(&d.join("lock")), 0o600);
    assert_eq!(mode(&d.join("state")), 0o644);
    let mut names: Vec<String> = fs::read_dir(&d)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["current", "lock", "state"]);
}

#[test]
fn timestamps_and_long_lines() {
    let t = TempDir::new("ml-long");
    let long = "x".repeat(1500);
    let mut input = format!("short\n\n{long}\nnul\0byte\n").into_bytes();
    input.extend_from_slice(b"end");
    let (code, _, err) = feed(MULTILOG, &["t", "e", "=st", "./d"], &input, t.path(), &[]);
    assert_eq!(code, 0);
    let cur = fs::read(t.join("d/current")).unwrap();
    // The whole line is logged, NUL bytes included, and a newline added to
    // the partial last line.
    let mut expect = format!("short\n\n{long}\n").into_bytes();
    expect.extend_from_slice(b"nul\0byte\nend\n");
    assert_eq!(unstamp(&cur).into_bytes(), expect);
    // e shows 200 bytes of the visible line, then "...".
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 5);
    assert!(
        is_label(&lines[1][..25]) && lines[1].len() == 26,
        "empty line keeps its label and space"
    );
    assert_eq!(lines[2].len(), 203);
    assert!(lines[2].ends_with("xxx..."));
    // The status file holds the visible part: at most 1000 bytes.
    let st = fs::read(t.join("st")).unwrap();
    assert_eq!(&st[26..30], b"end\n");
    let (_, _, _) = feed(
        MULTILOG,
        &["=st2"],
        format!("{long}\n").as_bytes(),
        t.path(),
        &[],
    );
    let st2 = fs::read(t.join("st2")).unwrap();
    assert_eq!(st2.len(), 1001);
    assert_eq!(&st2[..1000], "x".repeat(1000).as_bytes());
    assert_eq!(st2[1000], b'\n');
}

#[test]
fn patterns_match_the_visible_line() {
    let t = TempDir::new("ml-pat");
    let input = "named[135]: Cleaned cache of 3121 RRs\naab\nabab\nabcbc\n";
    let (code, _, _) = feed(
        MULTILOG,
        &[
            "-*",
            "+named[*]: Cleaned cache *",
            "+*b",
            "./sel",
            "-*",
            "+a*c",
            "./none",
        ],
        input.as_bytes(),
        t.path(),
        &[],
    );
    assert_eq!(code, 0);
    assert_eq!(
        fs::read_to_string(t.join("sel/current")).unwrap(),
        "named[135]: Cleaned cache of 3121 RRs\naab\n"
    );
    assert_eq!(fs::read_to_string(t.join("none/current")).unwrap(), "");
}

#[test]
fn rotation_by_size_keeps_n_files() {
    let t = TempDir::new("ml-rot");
    let mut input = String::new();
    for i in 0..400 {
        input.push_str(&format!("{i:05} {}\n", "y".repeat(44)));
    }
    let (code, _, _) = feed(
        MULTILOG,
        &["s4096", "n3", "./log"],
        input.as_bytes(),
        t.path(),
        &[],
    );
    assert_eq!(code, 0);
    let d = t.join("log");
    let old = old_files(&d);
    assert_eq!(old.len(), 2, "n3 keeps two old files");
    let cur = fs::read(d.join("current")).unwrap();
    let mut all = Vec::new();
    for (name, m, body) in &old {
        assert!(
            is_label(&name[..25]) && name.ends_with(".s") && name.len() == 27,
            "{name}"
        );
        assert_eq!(*m, 0o744);
        // Within the size, ending on a line inside the last 2000 bytes.
        assert!(
            body.len() <= 4096 && body.len() >= 4096 - 2000,
            "{}",
            body.len()
        );
        assert_eq!(body.last(), Some(&b'\n'));
        all.extend_from_slice(body);
    }
    all.extend_from_slice(&cur);
    // What is kept is the tail of the input, in order, each line once.
    assert!(input.as_bytes().ends_with(&all));
    let start = input.len() - all.len();
    assert!(start == 0 || input.as_bytes()[start - 1] == b'\n');
}

/// Each directory's files, oldest first, then `current`: contents only
/// (the names are timestamps).
fn dir_contents(dir: &Path) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = old_files(dir).into_iter().map(|f| f.2).collect();
    v.push(fs::read(dir.join("current")).unwrap());
    v
}

/// Where a file ends depends on how the original buffers: 1024-byte reads,
/// a 512-byte buffer flushed before each read, a line's first 1000 bytes
/// written as one piece and the rest byte by byte (spec/multilog.md,
/// "Writing to a dir"). Fed the same regular file, ours and the C
/// multilog must cut every file at the same byte, long lines and several
/// directories with different sizes and selections included.
#[test]
fn files_end_where_the_originals_do() {
    let c = reference_bin("multilog");
    let t = TempDir::new("ml-cuts");
    let mut r = Rand::new(0x5eed_0201);
    for case in 0..cases(30) {
        let longest = [60, 300, 999, 1500, 6000][r.below(5)];
        let mut input = Vec::new();
        for _ in 0..1 + r.below(400) {
            let n = r.below(longest + 1);
            input.extend(r.from(b"xy ", n));
            input.push(b'\n');
        }
        if r.below(4) == 0 {
            input.extend_from_slice(b"no newline at the end");
        }
        let sizes = [4096, 5000, 7000, 99999];
        let s1 = format!("s{}", sizes[r.below(4)]);
        let s2 = format!("s{}", sizes[r.below(4)]);
        let args = [&s1, "n1000", "./a", "-*y", &s2, "./b"];
        let src = t.join("input");
        fs::write(&src, &input).unwrap();
        let mut got = Vec::new();
        for (bin, dir) in [(c.as_os_str(), "c"), (MULTILOG.as_ref(), "ours")] {
            let cwd = t.join(format!("{case}-{dir}"));
            fs::create_dir(&cwd).unwrap();
            let st = Command::new(bin)
                .args(args)
                .current_dir(&cwd)
                .stdin(fs::File::open(&src).unwrap())
                .status()
                .unwrap();
            assert!(st.success());
            got.push((dir_contents(&cwd.join("a")), dir_contents(&cwd.join("b"))));
        }
        for (name, c, ours) in [("a", &got[0].0, &got[1].0), ("b", &got[0].1, &got[1].1)] {
            let lens = |d: &Vec<Vec<u8>>| d.iter().map(Vec::len).collect::<Vec<_>>();
            let first = (0..c.len().max(ours.len())).find(|&i| c.get(i) != ours.get(i));
            assert!(
                first.is_none(),
                "case {case}, {args:?}, ./{name}: first difference in file {first:?} of \
                 C's {} and our {}: sizes C {:?}, ours {:?}",
                c.len(),
                ours.len(),
                lens(c),
                lens(ours)
            );
        }
    }
}

#[test]
fn a_second_run_continues_the_directory() {
    let t = TempDir::new("ml-cont");
    assert_eq!(feed(MULTILOG, &["./d"], b"one\n", t.path(), &[]).0, 0);
    assert_eq!(feed(MULTILOG, &["./d"], b"two\n", t.path(), &[]).0, 0);
    assert_eq!(
        fs::read_to_string(t.join("d/current")).unwrap(),
        "one\ntwo\n"
    );
    assert!(old_files(&t.join("d")).is_empty());
    // A directory the C multilog left: current with its exec bit, old files.
    let d = t.join("c");
    fs::create_dir(&d).unwrap();
    fs::write(d.join("current"), "old line\n").unwrap();
    fs::set_permissions(d.join("current"), fs::Permissions::from_mode(0o744)).unwrap();
    fs::write(d.join("@400000006b01edba18f605b4.s"), "older\n").unwrap();
    assert_eq!(feed(MULTILOG, &["./c"], b"new line\n", t.path(), &[]).0, 0);
    assert_eq!(
        fs::read_to_string(d.join("current")).unwrap(),
        "old line\nnew line\n"
    );
    assert_eq!(old_files(&d).len(), 1);
}

#[test]
fn processor_output_and_state() {
    let t = TempDir::new("ml-proc");
    let mut input = String::new();
    for i in 0..200 {
        input.push_str(&format!("line {i:04} {}\n", "z".repeat(40)));
    }
    // gzip the rotated file; keep a count in state across runs.
    let proc_ = "!gzip; n=$(cat <&4); echo $((n+1)) >&5";
    let (code, _, err) = feed(
        MULTILOG,
        &["s4096", proc_, "./g"],
        input.as_bytes(),
        t.path(),
        &[],
    );
    assert_eq!((code, err.as_str()), (0, ""));
    let d = t.join("g");
    let old = old_files(&d);
    assert!(old.len() >= 2);
    let mut all = Vec::new();
    for (name, m, body) in &old {
        assert!(name.ends_with(".s"));
        assert_eq!(*m, 0o744);
        let mut gz = Command::new("gzip")
            .arg("-dc")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        gz.stdin.take().unwrap().write_all(body).unwrap();
        let mut out = Vec::new();
        gz.stdout.take().unwrap().read_to_end(&mut out).unwrap();
        assert!(gz.wait().unwrap().success());
        all.extend_from_slice(&out);
    }
    all.extend_from_slice(&fs::read(d.join("current")).unwrap());
    assert_eq!(String::from_utf8(all).unwrap(), input);
    assert_eq!(
        fs::read_to_string(d.join("state")).unwrap(),
        format!("{}\n", old.len())
    );
    for gone in ["previous", "processed", "newstate"] {
        assert!(!d.join(gone).exists(), "{gone}");
    }
}

#[test]
fn a_crashing_processor_is_retried() {
    // KILL, and a real-time signal (whose end nix's wait status cannot
    // hold: multilog waited for it forever).
    for sig in [9, nix::libc::SIGRTMIN()] {
        let t = TempDir::new("ml-crash");
        // Crashes the first time, then copies.
        let proc_ =
            format!("!if [ -e ../crashed ]; then cat; else touch ../crashed; kill -{sig} $$; fi");
        let mut input = String::new();
        for i in 0..60 {
            input.push_str(&format!("{i:03} {}\n", "c".repeat(60)));
        }
        // (With a deadline: the old wait never ended.)
        let (code, _, err) = run_input_within(
            60.0,
            MULTILOG,
            &["s4096", &proc_, "./p"],
            input.as_bytes(),
            t.path(),
        );
        let err = String::from_utf8_lossy(&err);
        assert_eq!(code, 0, "signal {sig}");
        assert_eq!(
            err,
            "multilog: warning: processor crashed in ./p, pausing\nmultilog: warning: processor failed in ./p, pausing\n",
            "signal {sig}"
        );
        let mut all = Vec::new();
        for (_, _, body) in old_files(&t.join("p")) {
            all.extend_from_slice(&body);
        }
        all.extend_from_slice(&fs::read(t.join("p/current")).unwrap());
        assert_eq!(String::from_utf8(all).unwrap(), input, "signal {sig}");
    }
}

#[test]
fn a_failing_processor_is_given_up_on_after_term_and_nothing_is_lost() {
    let t = TempDir::new("ml-procterm");
    let mut input = String::new();
    for i in 0..80 {
        input.push_str(&format!("{i:03} {}\n", "p".repeat(60)));
    }
    let err = t.join("err");
    let mut c = Command::new(MULTILOG)
        .args(["s4096", "!exit 1", "./p"])
        .current_dir(t.path())
        .stdin(Stdio::piped())
        .stderr(fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let mut stdin = c.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    let failed = "multilog: warning: processor failed in ./p, pausing\n";
    assert!(wait_until(10.0, || fs::read_to_string(&err)
        .unwrap_or_default()
        .contains(failed)));
    kill("-TERM", c.id());
    // The pause ends at TERM, the processor fails once more, and multilog
    // leaves previous to the next start instead of retrying for ever.
    assert!(wait_until(4.0, || c.try_wait().unwrap().is_some()));
    assert!(c.wait().unwrap().success());
    let log = fs::read_to_string(&err).unwrap();
    assert!(
        log.ends_with(
            "multilog: warning: processor failed in ./p, leaving previous to the next start\n"
        ),
        "{log}"
    );
    assert!(t.join("p/previous").exists());
    assert_eq!(mode(&t.join("p/current")), 0o644, "left for recovery");
    drop(stdin);
    // The next start recovers previous and current as old files.
    assert_eq!(feed(MULTILOG, &["s4096", "./p"], b"", t.path(), &[]).0, 0);
    assert!(!t.join("p/previous").exists());
    let mut all = Vec::new();
    for (_, _, body) in old_files(&t.join("p")) {
        all.extend_from_slice(&body);
    }
    all.extend_from_slice(&fs::read(t.join("p/current")).unwrap());
    assert_eq!(
        String::from_utf8(all).unwrap(),
        input,
        "every line, once, in order"
    );
}

#[test]
fn a_processor_that_cannot_be_forked_is_forked_again_alone() {
    require_root("a process limit, which binds only other accounts");
    let t = TempDir::new("ml-nofork");
    // Copies every account can run, made by cp: a descriptor of this
    // process open for writing could reach another test's child and make
    // the exec fail with "text busy".
    fs::set_permissions(t.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let softlimit = workspace_bin(MULTILOG, "softlimit");
    for bin in [softlimit.as_os_str(), MULTILOG.as_ref()] {
        let cp = Command::new("cp").arg(bin).arg(t.path()).status().unwrap();
        assert!(cp.success());
    }
    let mut input = String::new();
    for i in 0..80 {
        input.push_str(&format!("{i:03} {}\n", "f".repeat(60)));
    }
    let err = t.join("err");
    // nobody may have one process: multilog itself, so its processor
    // cannot be forked.
    let mut c = Command::new(workspace_bin(MULTILOG, "setuidgid"))
        .args(["nobody", "./softlimit", "-p", "1", "./multilog"])
        .args(["s4096", "!cat", "./p"])
        .current_dir(t.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let _failed = KillOnDrop(c.id());
    let mut stdin = c.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    let fork =
        "multilog: warning: unable to fork for processor in ./p, pausing: temporary failure\n";
    let log = || fs::read_to_string(&err).unwrap_or_default();
    assert!(wait_until(10.0, || log().contains(fork)), "{}", log());
    // ALRM ends the pause: the fork is tried again at once, and only the
    // fork (the original's fork loop), without a "processor failed" pause.
    kill("-ALRM", c.id());
    assert!(
        wait_until(4.0, || log().matches(fork).count() == 2),
        "{}",
        log()
    );
    kill("-TERM", c.id());
    assert_eq!(exit_within(&mut c, 4.0), Some(0));
    assert_eq!(
        log(),
        format!(
            "{fork}{fork}multilog: warning: processor failed in ./p, leaving previous to the next start\n"
        )
    );
    drop(stdin);
    // The next start recovers previous and current as old files.
    assert_eq!(feed(MULTILOG, &["s4096", "./p"], b"", t.path(), &[]).0, 0);
    let mut all = Vec::new();
    for (_, _, body) in old_files(&t.join("p")) {
        all.extend_from_slice(&body);
    }
    all.extend_from_slice(&fs::read(t.join("p/current")).unwrap());
    assert_eq!(String::from_utf8(all).unwrap(), input);
}

#[test]
fn recovery_after_kill_9() {
    let t = TempDir::new("ml-kill");
    let mut c = Command::new(MULTILOG)
        .arg("./d")
        .current_dir(t.path())
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = c.stdin.take().unwrap();
    stdin.write_all(b"one\ntwo\n").unwrap();
    // Written before the next read: on disk before the kill.
    assert!(wait_until(5.0, || fs::read(t.join("d/current"))
        .unwrap_or_default()
        == b"one\ntwo\n"));
    c.kill().unwrap();
    c.wait().unwrap();
    assert_eq!(
        mode(&t.join("d/current")),
        0o644,
        "no exec bit: not cleanly closed"
    );
    assert_eq!(feed(MULTILOG, &["./d"], b"three\n", t.path(), &[]).0, 0);
    let old = old_files(&t.join("d"));
    assert_eq!(old.len(), 1);
    assert!(old[0].0.ends_with(".u"));
    assert_eq!(old[0].2, b"one\ntwo\n");
    assert_eq!(fs::read(t.join("d/current")).unwrap(), b"three\n");

    // Killed with nothing written: no empty .u is left (divergence).
    let mut c = Command::new(MULTILOG)
        .arg("./e")
        .current_dir(t.path())
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_until(5.0, || t.join("e/current").exists()));
    c.kill().unwrap();
    c.wait().unwrap();
    assert_eq!(feed(MULTILOG, &["./e"], b"x\n", t.path(), &[]).0, 0);
    assert!(old_files(&t.join("e")).is_empty());

    // A `current` that is not a file (a FIFO) is not removed: it becomes a
    // .u, as the original makes it, and the line goes to a new current.
    fs::create_dir(t.join("f")).unwrap();
    nix::unistd::mkfifo(&t.join("f/current"), Mode::from_bits_truncate(0o644)).unwrap();
    assert_eq!(feed(MULTILOG, &["./f"], b"y\n", t.path(), &[]).0, 0);
    let kept: Vec<_> = fs::read_dir(t.join("f"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".u"))
        .map(|e| e.file_type().unwrap().is_fifo())
        .collect();
    assert_eq!(kept, [true]);
    assert_eq!(fs::read(t.join("f/current")).unwrap(), b"y\n");
}

#[test]
fn alarm_rotates_and_term_finishes_the_line() {
    let t = TempDir::new("ml-sig");
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let keep = r.try_clone().unwrap();
    let mut c = Command::new(MULTILOG)
        .arg("./d")
        .current_dir(t.path())
        .stdin(Stdio::from(r))
        .spawn()
        .unwrap();
    let mut w = fs::File::from(w);
    w.write_all(b"first\n").unwrap();
    let cur = t.join("d/current");
    assert!(wait_until(5.0, || fs::read(&cur).unwrap_or_default() == b"first\n"));
    kill("-ALRM", c.id());
    assert!(wait_until(5.0, || old_files(&t.join("d")).len() == 1));
    assert_eq!(old_files(&t.join("d"))[0].2, b"first\n");
    assert!(wait_until(5.0, || fs::read(&cur).is_ok_and(|c| c.is_empty())));
    // TERM in the middle of a line: the line is finished, the rest stays
    // in the pipe.
    // Each step waits until multilog has read what it was sent (the bytes
    // read, from /proc/PID/io): "half"; then that TERM has been handled.
    let rchar = |pid: u32| -> u64 {
        fs::read_to_string(format!("/proc/{pid}/io"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("rchar: ").and_then(|v| v.parse().ok()))
            .unwrap_or(0)
    };
    let before = rchar(c.id());
    w.write_all(b"half").unwrap();
    assert!(wait_until(5.0, || rchar(c.id()) >= before + 4));
    // TERM has been acted on once multilog has woken up for it and gone
    // back to sleep (waiting for the rest of the line).
    let status = |pid: u32, key: &str| -> String {
        fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
            .unwrap_or_default()
    };
    let switches =
        |pid: u32| -> u64 { status(pid, "voluntary_ctxt_switches:").parse().unwrap_or(0) };
    assert!(wait_until(5.0, || status(c.id(), "State:").starts_with('S')));
    let before = switches(c.id());
    kill("-TERM", c.id());
    assert!(wait_until(5.0, || switches(c.id()) > before
        && status(c.id(), "State:").starts_with('S')));
    w.write_all(b" done\nleft for the next reader\n").unwrap();
    assert!(c.wait().unwrap().success());
    assert_eq!(fs::read(&cur).unwrap(), b"half done\n");
    assert_eq!(mode(&cur), 0o744);
    drop(w);
    let mut rest = String::new();
    fs::File::from(keep).read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "left for the next reader\n");
}

/// In a private mount namespace (needs root, as in CI): multilog logs to
/// a small full tmpfs, reading a FIFO opened with `open_fifo`; a writer
/// sends 2000 lines; once multilog says the disk is full, space is freed
/// and `then` runs. Fails the test if the script fails.
fn on_a_full_disk(t: &TempDir, open_fifo: &str, then: &str) {
    let script = format!(
        r#"set -e
mount -t tmpfs -o size=256k tmpfs "$T/mnt"
dd if=/dev/zero of="$T/mnt/filler" bs=1k count=1024 2>/dev/null || true
mkfifo "$T/fifo"
{MULTILOG} "$T/mnt/log" < "$T/fifo" 2> "$T/err" &
ml=$!
{open_fifo}
i=0
while [ $i -lt 2000 ]; do i=$((i+1)); echo "line $i of the test, padded to some length"; done >&3 &
writer=$!
n=0
until grep -q 'out of disk space' "$T/err"; do sleep 0.1; n=$((n+1)); [ $n -lt 200 ]; done
rm "$T/mnt/filler"
{then}
"#
    );
    fs::create_dir(t.join("mnt")).unwrap();
    let o = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .env("T", t.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn disk_full_waits_and_loses_nothing() {
    // A small tmpfs in a private mount namespace (needs root, as in CI).
    let t = TempDir::new("ml-full");
    on_a_full_disk(
        &t,
        "exec 3> \"$T/fifo\"",
        r#"wait $writer
exec 3>&-
wait $ml
cp "$T/mnt/log/current" "$T/current"
ls "$T/mnt/log" > "$T/names""#,
    );
    let err = fs::read_to_string(t.join("err")).unwrap();
    assert!(err.lines().count() >= 1);
    for l in err.lines() {
        assert_eq!(l, format!("multilog: warning: unable to write to {}/mnt/log/current, pausing: out of disk space", t.path().display()));
    }
    let got = fs::read_to_string(t.join("current")).unwrap();
    let mut expect = String::new();
    for i in 1..=2000 {
        expect.push_str(&format!("line {i} of the test, padded to some length\n"));
    }
    assert_eq!(got, expect, "every line exactly once");
}

#[test]
fn term_while_waiting_for_the_disk_ends_the_wait() {
    // The disk is full, multilog waits to retry; space comes back and TERM
    // is sent: the wait ends at once (not after the 5-second pause), every
    // line it had read is written once, and current is closed cleanly.
    let t = TempDir::new("ml-fullterm");
    on_a_full_disk(
        &t,
        "exec 3<> \"$T/fifo\"",
        r#"date +%s%N > "$T/t0"
kill -TERM $ml
wait $ml || echo "exit $?" > "$T/code"
date +%s%N > "$T/t1"
kill $writer 2>/dev/null || true
cp "$T/mnt/log/current" "$T/current"
stat -c %a "$T/mnt/log/current" > "$T/mode""#,
    );
    assert!(!t.join("code").exists(), "multilog exited with an error");
    let ns = |f: &str| -> u64 {
        fs::read_to_string(t.join(f))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let waited = Duration::from_nanos(ns("t1") - ns("t0"));
    assert!(
        waited < Duration::from_secs(3),
        "TERM waited out the pause: {waited:?}"
    );
    assert_eq!(fs::read_to_string(t.join("mode")).unwrap().trim(), "744");
    let got = fs::read_to_string(t.join("current")).unwrap();
    let n = got.lines().count();
    assert!(n >= 1);
    let mut expect = String::new();
    for i in 1..=n {
        expect.push_str(&format!("line {i} of the test, padded to some length\n"));
    }
    assert_eq!(got, expect, "the lines read, each once, in order");
}

/// multilog `=/dev/full ./DIR` in `cwd` with stdin on a pipe whose write
/// end is returned, its stderr into the file `err`.
fn status_on_dev_full(cwd: &Path, dir: &str, err: &Path) -> (std::process::Child, fs::File) {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let c = Command::new(MULTILOG)
        .args(["=/dev/full", dir])
        .current_dir(cwd)
        .stdin(Stdio::from(r))
        .stderr(fs::File::create(err).unwrap())
        .spawn()
        .unwrap();
    (c, fs::File::from(w))
}

/// TERM to a multilog once its stderr (the file `err`) has the `pausing`
/// line of a failed step; its exit code, which must come well before the
/// five-second pause is over.
fn term_once_pausing(c: &mut std::process::Child, err: &Path, pausing: &str) -> Option<i32> {
    assert!(wait_until(5.0, || fs::read_to_string(err)
        .unwrap_or_default()
        .contains(pausing)));
    let sent = std::time::Instant::now();
    kill("-TERM", c.id());
    let code = exit_or_kill(c, 10.0);
    assert!(
        sent.elapsed() < Duration::from_secs(4),
        "TERM waited out the pause"
    );
    code
}

/// Its exit code within `secs`; killed if it has none by then, so that a
/// failing test leaves no multilog paused for ever.
fn exit_or_kill(c: &mut std::process::Child, secs: f64) -> Option<i32> {
    let code = exit_within(c, secs);
    if code.is_none() {
        let _ = c.kill();
        let _ = c.wait();
    }
    code
}

#[test]
fn term_gives_up_a_status_file_that_cannot_be_written() {
    // `=FILE` on a full disk (here /dev/full, which never takes a byte):
    // each line's copy for it pauses, and the original pauses for ever,
    // TERM unheard. Ours, once TERM has come, gives that copy up with a
    // warning; the line still goes to the log, and multilog exits cleanly.
    let t = TempDir::new("ml-status-full");
    let err = t.join("err");
    let pausing = "multilog: warning: unable to write /dev/full, pausing: out of disk space\n";
    let leaving = "multilog: warning: unable to write /dev/full, leaving it: out of disk space\n";

    // TERM while the copy pauses: the wait ends, the copy is given up.
    let (mut c, mut w) = status_on_dev_full(t.path(), "./d", &err);
    w.write_all(b"first\n").unwrap();
    assert_eq!(term_once_pausing(&mut c, &err, pausing), Some(0));
    assert_eq!(
        fs::read_to_string(&err).unwrap(),
        format!("{pausing}{leaving}")
    );
    assert_eq!(fs::read(t.join("d/current")).unwrap(), b"first\n");
    assert_eq!(mode(&t.join("d/current")), 0o744);

    // TERM in the middle of a line, before the copy is tried: the end of
    // the line is read, and its copy given up at the first failure.
    let (mut c, mut w) = status_on_dev_full(t.path(), "./e", &err);
    // Bytes read so far (the runtime's start-up reads are over once the
    // log directory is made); the part of a line read is not written
    // anywhere before the line's first 1000 bytes end.
    let io = format!("/proc/{}/io", c.id());
    let read_so_far = || {
        fs::read_to_string(&io)
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("rchar: ")?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    assert!(wait_until(5.0, || t.join("e/current").exists()));
    let before = read_so_far();
    w.write_all(b"partial").unwrap();
    assert!(wait_until(5.0, || read_so_far() >= before + 7));
    kill("-TERM", c.id());
    // Delivered (no longer pending in the kernel): multilog has seen it
    // before it reads the rest of the line.
    let status = format!("/proc/{}/status", c.id());
    let term_pending = || {
        fs::read_to_string(&status)
            .unwrap_or_default()
            .lines()
            .any(|l| {
                (l.starts_with("SigPnd:") || l.starts_with("ShdPnd:"))
                    && u64::from_str_radix(l.split_whitespace().nth(1).unwrap_or("0"), 16)
                        .unwrap_or(0)
                        & (1 << (15 - 1))
                        != 0
            })
    };
    assert!(wait_until(5.0, || !term_pending()));
    w.write_all(b" end\nnot read\n").unwrap();
    assert_eq!(exit_or_kill(&mut c, 10.0), Some(0));
    assert_eq!(fs::read_to_string(&err).unwrap(), leaving);
    assert_eq!(fs::read(t.join("e/current")).unwrap(), b"partial end\n");
    assert_eq!(mode(&t.join("e/current")), 0o744);
}

#[test]
fn term_while_the_start_cannot_recover_the_directory_exits_and_loses_nothing() {
    // A crash left `current` unfinished, and `previous` is a directory:
    // the recovery cannot remove it and pauses. The original pauses for
    // ever and hears no TERM (`svc -d` on the log service waits for KILL).
    // Ours, which has read nothing yet, gives up on TERM: the failing step
    // as a fatal line, exit 111, the directory as it was and the input
    // left in the pipe for the next start.
    let t = TempDir::new("ml-start-term");
    let d = t.join("d");
    fs::create_dir_all(d.join("previous")).unwrap();
    fs::write(d.join("current"), b"before the crash\n").unwrap();
    fs::set_permissions(d.join("current"), fs::Permissions::from_mode(0o644)).unwrap();
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let mut w = fs::File::from(w);
    w.write_all(b"after the start\n").unwrap();
    let err = t.join("err");
    let mut c = Command::new(MULTILOG)
        .arg("./d")
        .current_dir(t.path())
        .stdin(Stdio::from(r.try_clone().unwrap()))
        .stderr(fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let pausing = "multilog: warning: unable to remove ./d/previous, pausing: is a directory\n";
    assert_eq!(term_once_pausing(&mut c, &err, pausing), Some(111));
    assert_eq!(
        fs::read_to_string(&err).unwrap(),
        format!("{pausing}multilog: fatal: unable to remove ./d/previous: is a directory\n")
    );
    assert!(old_files(&d).is_empty());
    assert_eq!(fs::read(d.join("current")).unwrap(), b"before the crash\n");
    assert!(d.join("previous").is_dir());
    // Mended, the next start on the same input recovers and logs it all.
    fs::remove_dir(d.join("previous")).unwrap();
    drop(w);
    let st = Command::new(MULTILOG)
        .arg("./d")
        .current_dir(t.path())
        .stdin(Stdio::from(r))
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(0));
    let old = old_files(&d);
    assert_eq!(old.len(), 1);
    assert!(old[0].0.ends_with(".u"));
    assert_eq!(old[0].2, b"before the crash\n");
    assert_eq!(fs::read(d.join("current")).unwrap(), b"after the start\n");
}

#[test]
fn a_fifo_in_place_of_current_or_the_status_file_fails_at_once() {
    let t = TempDir::new("ml-fifo");
    let fifo =
        |p: &Path| nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o700)).unwrap();
    fs::create_dir(t.join("d")).unwrap();
    fifo(&t.join("d/current"));
    let o = run_within(10.0, MULTILOG, &["./d"], t.path(), Some(b"x\n"));
    assert_eq!(
        o,
        Out::new(
            111,
            "",
            "multilog: fatal: unable to append to ./d/current: device not configured\n"
        )
    );
    fifo(&t.join("st"));
    let o = run_within(10.0, MULTILOG, &["=st", "./e"], t.path(), Some(b"x\n"));
    assert_eq!(
        o,
        Out::new(
            111,
            "",
            "multilog: fatal: unable to create st: device not configured\n"
        )
    );
}

#[test]
fn tai64n_format() {
    let t = TempDir::new("tai");
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (code, out, err) = feed(TAI64N, &[], b"a\n\nno newline", t.path(), &[]);
    let after = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!((code, err.as_str()), (0, ""));
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = out.split_inclusive('\n').collect();
    assert_eq!(lines.len(), 3);
    for (l, body) in lines.iter().zip(["a\n", "\n", "no newline"]) {
        assert!(is_label(&l[..25]));
        assert_eq!(&l[25..], format!(" {body}"));
        let secs = u64::from_str_radix(&l[1..17], 16).unwrap() - (1 << 62) - 10;
        let nanos = u32::from_str_radix(&l[17..25], 16).unwrap();
        assert!(before <= secs && secs <= after);
        assert_eq!(nanos % 1000, 500);
    }
    assert_eq!(
        feed(TAI64N, &[], b"", t.path(), &[]),
        (0, vec![], String::new())
    );
}

#[test]
fn tai64nlocal_streams_lines_and_labels_of_any_length() {
    // A line is converted as it comes: neither a long line nor a long
    // label is held whole (a label's first 4096 digits at most). Ours used
    // to gather each line before converting it, so a 24 MB line took 24 MB
    // (and quadratic time): under a 24 MB address space it died with
    // `out of memory`. The C original streams too.
    let t = TempDir::new("tailocal-long");
    let mut input = b"@".to_vec();
    input.extend(std::iter::repeat_n(b'7', 12_000_000));
    input.extend_from_slice(b"4000000037c219bf2ef02e94 label\n");
    input.extend(std::iter::repeat_n(b'y', 12_000_000));
    input.extend_from_slice(b"\n@4000000037c219bf2ef02e94 next\n");
    let sh = format!("ulimit -v 24000 && exec {TAI64NLOCAL}");
    let (code, out, err) = run_input("sh", &["-c", &sh], &input, t.path(), &[("TZ", "UTC")], &[]);
    assert_eq!((code, String::from_utf8_lossy(&err).as_ref()), (0, ""));
    // The long label counts by its last 24 digits, as in the original.
    let first = b"1999-08-24 04:04:05.787492500 label\n";
    assert_eq!(&out[..first.len()], first);
    let last = b"\n1999-08-24 04:04:05.787492500 next\n";
    assert_eq!(&out[out.len() - last.len()..], last);
    assert_eq!(out.len(), first.len() + 12_000_000 + last.len());
    assert!(out[first.len()..out.len() - last.len()]
        .iter()
        .all(|&b| b == b'y'));
}

#[test]
fn tai64nlocal_golden_and_malformed() {
    let t = TempDir::new("tailocal");
    let input = "@4000000037c219bf2ef02e94 mark\n@400000000000000a00000000 epoch\n@3fffffffffffffff00000000 before\n\
                 @4000000037c219bf2ef02e94:colon\n@4000000037c219bfffffffff big\nno at\nx@4000000037c219bf2ef02e94 mid\n\
                 @\n@x\n@4000000037C219BF2EF02E94 upper\n@4000000037c219bf mark\nlast";
    let expect = "1999-08-24 04:04:05.787492500 mark\n1970-01-01 00:00:00.000000000 epoch\n1969-12-31 23:59:49.000000000 before\n\
                  1999-08-24 04:04:05.787492500:colon\n1999-08-24 04:04:05.4294967295 big\nno at\nx@4000000037c219bf2ef02e94 mid\n\
                  @\n@x\n@4000000037C219BF2EF02E94 upper\n@4000000037c219bf mark\nlast";
    let (code, out, _) = feed(
        TAI64NLOCAL,
        &[],
        input.as_bytes(),
        t.path(),
        &[("TZ", "UTC")],
    );
    assert_eq!(code, 0);
    assert_eq!(String::from_utf8(out).unwrap(), expect);
    let (_, out, _) = feed(
        TAI64NLOCAL,
        &[],
        b"@4000000037c219bf2ef02e94 mark\n",
        t.path(),
        &[("TZ", "America/Los_Angeles")],
    );
    if Path::new("/usr/share/zoneinfo/America/Los_Angeles").exists() {
        assert_eq!(out, b"1999-08-23 21:04:05.787492500 mark\n");
    }
    // End of input inside a label: nothing written for that line.
    let (_, out, _) = feed(
        TAI64NLOCAL,
        &[],
        b"a\n@4000000037c219bf2ef02e94",
        t.path(),
        &[("TZ", "UTC")],
    );
    assert_eq!(out, b"a\n");
}

#[test]
fn tai64n_then_tai64nlocal_round_trip() {
    let t = TempDir::new("roundtrip");
    let (_, stamped, _) = feed(TAI64N, &[], b"hello\n", t.path(), &[]);
    let (_, local, _) = feed(TAI64NLOCAL, &[], &stamped, t.path(), &[("TZ", "UTC")]);
    let local = String::from_utf8(local).unwrap();
    assert!(local.ends_with(" hello\n"));
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M"])
        .output()
        .unwrap();
    let now = String::from_utf8(date.stdout).unwrap();
    // Same minute (or the one before, at a minute boundary).
    assert_eq!(&local[..10], &now[..10]);
    assert_eq!(local.as_bytes()[19], b'.');
    assert_eq!(local.len(), "YYYY-MM-DD HH:MM:SS.NNNNNNNNN hello\n".len());
}

/// A multilog reading a pipe the test writes to.
struct Piped {
    child: std::process::Child,
    w: Option<fs::File>,
}

impl Piped {
    fn start(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Piped {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let child = Command::new(MULTILOG)
            .args(args)
            .envs(env.iter().copied())
            .current_dir(cwd)
            .stdin(Stdio::from(r))
            .spawn()
            .unwrap();
        Piped {
            child,
            w: Some(fs::File::from(w)),
        }
    }
    fn send(&mut self, b: &[u8]) {
        self.w.as_mut().unwrap().write_all(b).unwrap();
    }
    /// End of input; the exit code.
    fn close(mut self) -> i32 {
        self.w = None;
        self.child.wait().unwrap().code().unwrap()
    }
}

impl Drop for Piped {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn local_time_stamps_match_tai64nlocal_and_patterns_skip_them() {
    let t = TempDir::new("ml-T");
    let env = [("TZ", "Asia/Tokyo")];
    let input = b"keep this\ndrop this\n";
    let (code, _, _) = feed(
        MULTILOG,
        &["t", "T", "-drop*", "./d", "=st"],
        input,
        t.path(),
        &env,
    );
    assert_eq!(code, 0);
    let cur = fs::read(t.join("d/current")).unwrap();
    let lines: Vec<&[u8]> = cur.split_inclusive(|&b| b == b'\n').collect();
    assert_eq!(lines.len(), 1, "{}", String::from_utf8_lossy(&cur));
    // `t` first: tai64nlocal turns its label into the same local time that
    // T wrote after it (same instant, same TZ).
    let (_, local, _) = feed(TAI64NLOCAL, &[], &cur, t.path(), &env);
    let local = String::from_utf8(local).unwrap();
    let (stamp, rest) = local.split_at(29);
    assert_eq!(rest, format!(" {stamp} keep this\n"));
    assert!(
        stamp.as_bytes()[4] == b'-' && stamp.as_bytes()[10] == b' ' && stamp.as_bytes()[19] == b'.'
    );
    // The status file shows the stamps too, as with t.
    let st = fs::read(t.join("st")).unwrap();
    assert_eq!(st.len(), 1001);
    assert_eq!(&st[..cur.len() - 1], &cur[..cur.len() - 1]);
    // T alone; the 1000-byte window counts the stamp: 30 + 970 bytes seen.
    let long = format!("{}\n", "x".repeat(1200));
    let (code, _, _) = feed(
        MULTILOG,
        &["T", "=st2", "./e"],
        long.as_bytes(),
        t.path(),
        &env,
    );
    assert_eq!(code, 0);
    let st2 = fs::read(t.join("st2")).unwrap();
    assert_eq!(&st2[30..1000], "x".repeat(970).as_bytes());
    assert_eq!(st2[1000], b'\n');
    let e = fs::read(t.join("e/current")).unwrap();
    assert_eq!(e.len(), 30 + 1201);
    // Through a processor: the processed old files hold the stamped lines.
    let many: String = (0..100).map(|i| format!("{i:099}\n")).collect();
    let (code, _, _) = feed(
        MULTILOG,
        &["T", "!cat", "s4096", "./p"],
        many.as_bytes(),
        t.path(),
        &env,
    );
    assert_eq!(code, 0);
    let old = old_files(&t.join("p"));
    assert!(!old.is_empty());
    for o in &old {
        for l in String::from_utf8_lossy(&o.2).lines() {
            assert_eq!(l.len(), 30 + 99, "{l}");
            assert_eq!(&l[19..20], ".");
        }
    }
    // Without T, t's stamp is part of what patterns see, as ever.
    let (code, _, _) = feed(MULTILOG, &["t", "-drop*", "./f"], input, t.path(), &[]);
    assert_eq!(code, 0);
    assert_eq!(
        unstamp(&fs::read(t.join("f/current")).unwrap()),
        "keep this\ndrop this\n"
    );
}

#[test]
fn r_rotates_an_idle_current_after_its_age_and_not_an_empty_one() {
    let t = TempDir::new("ml-R");
    let mut m = Piped::start(&["./plain", "R2", "./d"], t.path(), &[]);
    m.send(b"first\n");
    let d = t.join("d");
    assert!(wait_until(5.0, || fs::read(d.join("current"))
        .unwrap_or_default()
        == b"first\n"));
    let written = std::time::Instant::now();
    // Rotated about two seconds later without more input.
    assert!(wait_until(6.0, || old_files(&d).len() == 1));
    let took = written.elapsed();
    assert!(took >= Duration::from_millis(1800), "{took:?}");
    assert!(took < Duration::from_millis(4500), "{took:?}");
    let old = old_files(&d);
    assert!(old[0].0.ends_with(".s"));
    assert_eq!(old[0].2, b"first\n");
    // An empty current is not rotated; the directory without R never is.
    std::thread::sleep(Duration::from_millis(2600));
    assert_eq!(old_files(&d).len(), 1);
    assert!(old_files(&t.join("plain")).is_empty());
    // The age counts from the first line of the new current.
    m.send(b"second\n");
    assert!(wait_until(6.0, || old_files(&d).len() == 2));
    assert_eq!(old_files(&d)[1].2, b"second\n");
    assert_eq!(m.close(), 0);

    // A restarted multilog rotates an old current at once.
    let (code, _, _) = feed(MULTILOG, &["./r"], b"old line\n", t.path(), &[]);
    assert_eq!(code, 0);
    std::thread::sleep(Duration::from_millis(2100));
    let m = Piped::start(&["R2", "./r"], t.path(), &[]);
    assert!(wait_until(3.0, || old_files(&t.join("r")).len() == 1));
    assert_eq!(old_files(&t.join("r"))[0].2, b"old line\n");
    assert_eq!(m.close(), 0);
}

#[test]
fn r_with_a_processor_and_a_kill_9_during_the_rotation_loses_nothing() {
    let t = TempDir::new("ml-R-proc");
    // The processor takes its time: the kill comes while it runs.
    let mut m = Piped::start(
        &["R1", "!touch ../running; sleep 30; cat", "./d"],
        t.path(),
        &[],
    );
    m.send(b"one\ntwo\n");
    assert!(wait_until(6.0, || t.join("running").exists()));
    assert!(t.join("d/previous").exists());
    m.child.kill().unwrap();
    m.child.wait().unwrap();
    for p in pids_of(&["sleep", "30"], &t.join("d")) {
        kill("-9", p);
    }
    // The next start recovers previous as an old .u file, as the original.
    let (code, _, _) = feed(MULTILOG, &["!cat", "./d"], b"three\n", t.path(), &[]);
    assert_eq!(code, 0);
    let old = old_files(&t.join("d"));
    let all: Vec<u8> = old.iter().flat_map(|o| o.2.clone()).collect();
    assert_eq!(all, b"one\ntwo\n", "{old:?}");
    assert!(old.iter().any(|o| o.0.ends_with(".u")));
    assert_eq!(fs::read(t.join("d/current")).unwrap(), b"three\n");
}

#[test]
fn s_caps_the_old_files_oldest_first() {
    let t = TempDir::new("ml-S");
    // 100 lines of 100 bytes, rotated at 4096: about 2.4 files; n is large,
    // S keeps at most 5000 bytes of old files.
    let mut input = Vec::new();
    for i in 0..100 {
        input.extend_from_slice(format!("{i:099}\n").as_bytes());
    }
    let (code, _, _) = feed(
        MULTILOG,
        &["s4096", "n100", "S5000", "./d", "!cat", "./p"],
        &input,
        t.path(),
        &[],
    );
    assert_eq!(code, 0);
    for dir in ["d", "p"] {
        let old = old_files(&t.join(dir));
        let total: usize = old.iter().map(|o| o.2.len()).sum();
        assert!(total <= 5000, "{dir}: {total}");
        assert!(!old.is_empty(), "{dir}");
        // What is left is the newest: the last lines before current.
        let cur = fs::read(t.join(dir).join("current")).unwrap();
        let mut kept: Vec<u8> = old.iter().flat_map(|o| o.2.clone()).collect();
        kept.extend_from_slice(&cur);
        assert!(input.ends_with(&kept), "{dir}");
    }
    // Without S, the same input keeps every old file (n100).
    let (code, _, _) = feed(MULTILOG, &["s4096", "n100", "./all"], &input, t.path(), &[]);
    assert_eq!(code, 0);
    let all: Vec<u8> = old_files(&t.join("all"))
        .iter()
        .flat_map(|o| o.2.clone())
        .chain(fs::read(t.join("all/current")).unwrap())
        .collect();
    assert_eq!(all, input);
}

#[test]
fn a_fifo_as_a_processors_state_or_output_does_not_hang() {
    // The processor's files are opened as the original opens them:
    // `state` with open_read (non-blocking: a FIFO without a writer reads
    // as empty, where a blocking open waited for ever), `processed` and
    // `newstate` with open_trunc (non-blocking too).
    let t = TempDir::new("ml-proc-fifo");
    let fifo =
        |p: &Path| nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    fs::create_dir(t.join("d")).unwrap();
    // A cleanly closed current (mode 744): no crash recovery, which would
    // remove `state`.
    fs::write(t.join("d/current"), b"").unwrap();
    fs::set_permissions(t.join("d/current"), fs::Permissions::from_mode(0o744)).unwrap();
    fifo(&t.join("d/state"));
    let mut input = Vec::new();
    for i in 0..200 {
        input
            .extend_from_slice(format!("line {i:04} of some length to fill the file\n").as_bytes());
    }
    let o = run_within(
        20.0,
        MULTILOG,
        &["s4096", "!cat", "./d"],
        t.path(),
        Some(&input),
    );
    assert_eq!((o.code, o.stderr.as_str()), (0, ""));
    // Every line is in the directory, once (old files and current).
    let mut got = String::new();
    let mut names: Vec<_> = fs::read_dir(t.join("d"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('@'))
        .collect();
    names.sort();
    names.push("current".into());
    for n in names {
        got.push_str(&fs::read_to_string(t.join("d").join(n)).unwrap());
    }
    assert_eq!(got.as_bytes(), &input[..]);
}

#[test]
fn a_directory_renamed_while_multilog_runs_goes_on_where_it_now_is() {
    // The original works in its directory through a descriptor (fchdir),
    // so `mv main main.old` (or renaming a parent of an absolute path)
    // under a running multilog changes nothing for it: rotations, the
    // processor and old files go on in the moved directory.
    let t = TempDir::new("ml-mv");
    let mut m = Piped::start(
        &["s4096", "!cat; /bin/pwd -P >> ../cwds", "./d"],
        t.path(),
        &[],
    );
    m.send(b"before\n");
    assert!(wait_until(5.0, || {
        fs::read(t.join("d/current")).unwrap_or_default() == b"before\n"
    }));
    fs::rename(t.join("d"), t.join("moved")).unwrap();
    let mut input = b"before\n".to_vec();
    for i in 0..400 {
        input.extend_from_slice(format!("after {i:04} {}\n", "x".repeat(30)).as_bytes());
    }
    m.send(&input[7..]);
    m.w = None;
    // Within a deadline: a multilog that looked for the files by the old
    // path paused for ever (`unable to rename current to previous`).
    assert_eq!(exit_within(&mut m.child, 10.0), Some(0));
    assert!(!t.join("d").exists());
    let moved = t.join("moved");
    let old = old_files(&moved);
    assert!(old.len() >= 3, "{old:?}");
    assert!(old.iter().all(|o| o.0.ends_with(".s") && o.1 == 0o744));
    let mut all: Vec<u8> = old.iter().flat_map(|o| o.2.clone()).collect();
    all.extend(fs::read(moved.join("current")).unwrap());
    assert_eq!(all, input);
    let real = moved.canonicalize().unwrap();
    let cwds = fs::read_to_string(t.join("cwds")).unwrap();
    assert_eq!(cwds.lines().count(), old.len(), "{cwds}");
    assert!(cwds.lines().all(|l| Path::new(l) == real), "{cwds}");
    for name in ["previous", "processed", "newstate"] {
        assert!(!moved.join(name).exists(), "{name}");
    }
}

/// multilog on `dir` in `t`, its error output going to `t/err`.
fn logging_to(t: &TempDir, args: &[&str], dir: &str) -> Piped {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let child = Command::new(MULTILOG)
        .args(args)
        .arg(dir)
        .current_dir(t.path())
        .stdin(Stdio::from(r))
        .stderr(fs::File::create(t.join("err")).unwrap())
        .spawn()
        .unwrap();
    Piped {
        child,
        w: Some(fs::File::from(w)),
    }
}

#[test]
fn a_current_or_a_directory_removed_while_multilog_runs_is_started_again() {
    // The original writes on into a removed current, then pauses for ever
    // at its rotation, no longer reading: the service behind it blocks.
    let t = TempDir::new("ml-rm");
    let d = t.join("d");
    let cur = d.join("current");
    let has = |want: &[u8]| wait_until(5.0, || fs::read(&cur).unwrap_or_default() == want);
    let mut m = logging_to(&t, &[], "./d");
    m.send(b"one\n");
    assert!(has(b"one\n"));
    fs::remove_file(&cur).unwrap();
    m.send(b"two\n");
    assert!(has(b"two\n"));
    assert_eq!(mode(&cur), 0o644);
    // The whole directory, as `rm -rf` does it: files first.
    for e in fs::read_dir(&d).unwrap() {
        fs::remove_file(e.unwrap().path()).unwrap();
    }
    fs::remove_dir(&d).unwrap();
    m.send(b"three\n");
    assert!(has(b"three\n"));
    assert_eq!(mode(&d), 0o700);
    assert!(d.join("lock").exists() && d.join("state").exists());
    // A second multilog is refused on the new directory: the lock is held.
    let (code, _, err) = feed(MULTILOG, &["./d"], b"", t.path(), &[]);
    assert_eq!(
        (code, err.as_str()),
        (
            111,
            "multilog: fatal: unable to lock directory ./d: temporary failure\n"
        )
    );
    // Rotation goes on as usual there.
    kill("-ALRM", m.child.id());
    assert!(wait_until(5.0, || old_files(&d).len() == 1));
    assert_eq!(old_files(&d)[0].2, b"three\n");
    m.send(b"four\n");
    assert_eq!(m.close(), 0);
    assert_eq!(fs::read(&cur).unwrap(), b"four\n");
    assert_eq!(mode(&cur), 0o744);
    assert_eq!(
        fs::read_to_string(t.join("err")).unwrap(),
        "multilog: warning: ./d/current was moved or removed, starting a new one\n\
         multilog: warning: ./d was removed, making it again\n"
    );
}

#[test]
fn a_current_moved_away_keeps_its_lines_and_a_new_one_starts_at_the_rotation() {
    // The original pauses for ever at the rotation (nothing to rename).
    let t = TempDir::new("ml-mv-cur");
    let d = t.join("d");
    let mut m = logging_to(&t, &[], "./d");
    m.send(b"one\n");
    assert!(wait_until(5.0, || fs::read(d.join("current"))
        .unwrap_or_default()
        == b"one\n"));
    fs::rename(d.join("current"), t.join("kept")).unwrap();
    m.send(b"two\n");
    // Still written where the file went, until the rotation.
    assert!(wait_until(5.0, || fs::read(t.join("kept"))
        .unwrap_or_default()
        == b"one\ntwo\n"));
    kill("-ALRM", m.child.id());
    assert!(wait_until(5.0, || d.join("current").exists()));
    m.send(b"three\n");
    m.w = None;
    assert_eq!(exit_within(&mut m.child, 10.0), Some(0));
    assert_eq!(fs::read(d.join("current")).unwrap(), b"three\n");
    assert_eq!(fs::read(t.join("kept")).unwrap(), b"one\ntwo\n");
    assert!(old_files(&d).is_empty());
    assert_eq!(
        fs::read_to_string(t.join("err")).unwrap(),
        "multilog: warning: ./d/current was moved or removed, starting a new one\n"
    );
}

#[test]
fn removing_current_on_a_full_disk_gives_its_space_back() {
    // The disk fills with current itself; the administrator removes it.
    // The original holds the removed file open, so no space comes back and
    // it pauses for ever; ours starts a new current after its pause, and
    // the lines it had not written yet go there.
    let t = TempDir::new("ml-full-rm");
    let script = r#"set -e
mount -t tmpfs -o size=256k tmpfs "$T/mnt"
mkfifo "$T/fifo"
multilog s16000000 "$T/mnt/log" < "$T/fifo" 2> "$T/err" &
ml=$!
trap 'kill -9 $ml 2>/dev/null || true' EXIT
exec 3> "$T/fifo"
i=0
while [ $i -lt 8000 ]; do i=$((i+1)); echo "line $i of the test, padded to some length"; done >&3 &
writer=$!
n=0
until grep -q 'out of disk space' "$T/err"; do sleep 0.1; n=$((n+1)); [ $n -lt 200 ]; done
rm "$T/mnt/log/current"
wait $writer
exec 3>&-
n=0
while kill -0 $ml 2>/dev/null; do sleep 0.1; n=$((n+1)); [ $n -lt 200 ]; done
cp "$T/mnt/log/current" "$T/current"
"#;
    run_in_mount_namespace(script, t.path(), MULTILOG);
    let log = format!("{}/mnt/log", t.path().display());
    let err = fs::read_to_string(t.join("err")).unwrap();
    let lines: Vec<&str> = err.lines().collect();
    assert!(lines.len() >= 2, "{err}");
    let (last, pauses) = lines.split_last().unwrap();
    for l in pauses {
        assert_eq!(
            *l,
            format!(
                "multilog: warning: unable to write to {log}/current, pausing: out of disk space"
            )
        );
    }
    assert_eq!(
        *last,
        format!("multilog: warning: {log}/current was moved or removed, starting a new one")
    );
    // The new current holds the lines from where the removed one ended
    // to the last, each once, in order.
    let got = fs::read_to_string(t.join("current")).unwrap();
    let numbers: Vec<u32> = got
        .lines()
        .map(|l| l.split(' ').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(numbers.len() > 1000, "{}", numbers.len());
    assert_eq!(*numbers.last().unwrap(), 8000);
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1));
    assert!(numbers[0] > 1);
}

#[test]
fn a_directory_removed_while_its_processor_runs_is_started_again() {
    // Every later step of the rotation would fail in the removed
    // directory: the original (and ours before) paused there for ever.
    let t = TempDir::new("ml-rm-proc");
    let d = t.join("d");
    let base = t.path().display().to_string();
    let processor =
        format!("!touch {base}/running; until [ -e {base}/go ]; do sleep 0.02; done; cat");
    let mut m = logging_to(&t, &[&processor], "./d");
    m.send(b"one\n");
    assert!(wait_until(5.0, || fs::read(d.join("current"))
        .unwrap_or_default()
        == b"one\n"));
    kill("-ALRM", m.child.id());
    assert!(wait_until(5.0, || t.join("running").exists()));
    fs::remove_dir_all(&d).unwrap();
    fs::write(t.join("go"), b"").unwrap();
    m.send(b"two\n");
    assert!(wait_until(5.0, || fs::read(d.join("current"))
        .unwrap_or_default()
        == b"two\n"));
    m.w = None;
    assert_eq!(exit_within(&mut m.child, 10.0), Some(0));
    assert_eq!(mode(&d.join("current")), 0o744);
    let err = fs::read_to_string(t.join("err")).unwrap();
    assert!(
        err.contains("multilog: warning: ./d was removed, making it again\n"),
        "{err}"
    );
    assert!(!err.contains("pausing"), "{err}");
}

#[test]
fn term_gives_up_on_a_removed_directory_that_cannot_be_made_again() {
    // Its parent went too: multilog pauses and retries, and TERM ends that.
    let t = TempDir::new("ml-rm-parent");
    fs::create_dir(t.join("p")).unwrap();
    let mut m = logging_to(&t, &[], "./p/d");
    m.send(b"one\n");
    assert!(wait_until(5.0, || fs::read(t.join("p/d/current"))
        .unwrap_or_default()
        == b"one\n"));
    fs::remove_dir_all(t.join("p")).unwrap();
    m.send(b"two\n");
    let err = || fs::read_to_string(t.join("err")).unwrap_or_default();
    assert!(wait_until(5.0, || err().contains("pausing")));
    kill("-TERM", m.child.id());
    assert_eq!(exit_within(&mut m.child, 3.0), Some(0));
    assert_eq!(
        err(),
        "multilog: warning: ./p/d was removed, making it again\n\
         multilog: warning: unable to open directory ./p/d, pausing: file does not exist\n\
         multilog: warning: unable to open directory ./p/d, leaving it: file does not exist\n"
    );
    assert!(!t.join("p").exists());
}

/// A TZif file (version 1) for a zone always `offset` seconds east of UTC.
fn fixed_zone(offset: i32) -> Vec<u8> {
    let mut z = b"TZif".to_vec();
    z.extend_from_slice(&[0u8; 16]);
    // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt.
    for n in [0u32, 0, 0, 0, 1, 4] {
        z.extend_from_slice(&n.to_be_bytes());
    }
    z.extend_from_slice(&offset.to_be_bytes());
    z.extend_from_slice(&[0, 0]);
    z.extend_from_slice(b"ZZZ\0");
    z
}

/// `YYYY-MM-DD HH:MM:SS` at the start of `line` as seconds, counted as if
/// it were UTC.
fn stamp_seconds(line: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| line[r].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    // Days from 1970-01-01 to the date (the proleptic Gregorian calendar).
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)
}

#[test]
fn local_time_follows_a_change_of_the_machines_zone() {
    // The machine's zone changes while multilog T and a tai64nlocal at the
    // end of a pipe run (an installer setting the zone after boot). The C
    // tai64nlocal follows it (localtime(3) looks at /etc/localtime again);
    // ours used localtime_r(3), which never looks again: the old zone until
    // a restart. /etc is a tmpfs of the test's own mount namespace.
    let t = TempDir::new("ml-zone");
    fs::write(t.join("zero.tzif"), fixed_zone(0)).unwrap();
    fs::write(t.join("nine.tzif"), fixed_zone(9 * 3600)).unwrap();
    let script = r#"set -e
unset TZ
mount -t tmpfs tmpfs /etc
cp "$T/zero.tzif" /etc/localtime
mkfifo "$T/in" "$T/labels"
multilog T "$T/log" < "$T/in" 2> "$T/err" &
ml=$!
tai64nlocal < "$T/labels" > "$T/local" &
tl=$!
exec 3> "$T/in" 4> "$T/labels"
echo before >&3
echo "@400000006800000000000000 before" >&4
n=0; until grep -q before "$T/log/current" 2>/dev/null && grep -q before "$T/local"; do sleep 0.1; n=$((n+1)); [ $n -lt 100 ]; done
cp "$T/nine.tzif" /etc/localtime.new
mv /etc/localtime.new /etc/localtime
s=$(date +%s)
until [ "$(date +%s)" -gt "$s" ]; do sleep 0.05; done
echo after >&3
echo "@400000006800000100000000 after" >&4
exec 3>&- 4>&-
wait $ml
wait $tl
"#;
    run_in_mount_namespace(script, t.path(), MULTILOG);
    for (file, least, most) in [
        ("log/current", 9 * 3600, 9 * 3600 + 15),
        ("local", 9 * 3600 + 1, 9 * 3600 + 1),
    ] {
        let text = fs::read_to_string(t.join(file)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{file}: {text}");
        assert!(
            lines[0].ends_with(" before") && lines[1].ends_with(" after"),
            "{file}: {text}"
        );
        let moved = stamp_seconds(lines[1]) - stamp_seconds(lines[0]);
        assert!((least..=most).contains(&moved), "{file}: {text}");
    }
}

#[test]
fn a_zone_file_that_is_a_fifo_is_read_as_utc_not_waited_on() {
    // TZ naming a FIFO (by path, or under TZDIR), or the machine's zone
    // replaced by one while multilog T runs: the C library's read of it
    // would wait for a writer for ever, and multilog, which catches TERM,
    // could then be stopped by KILL alone (the C tai64nlocal waits too).
    // Ours converts as UTC, as the C library does for a zone file it
    // cannot read. /etc is a tmpfs of the test's own mount namespace.
    let t = TempDir::new("ml-zonefifo");
    fs::write(t.join("nine.tzif"), fixed_zone(9 * 3600)).unwrap();
    // Labels from 1800 to past 9999, leap days and the ends of 32-bit time
    // among them: the UTC of the C library and ours, line for line.
    let mut labels = String::new();
    for unix in [
        -5_364_662_400i64,
        -2_208_988_801,
        -1,
        0,
        951_825_600,
        951_868_799,
        1_700_000_000,
        2_147_483_647,
        2_147_483_648,
        4_107_542_399,
        253_402_300_799,
        253_402_300_800,
        1 << 40,
    ] {
        let tai = (1u64 << 62).wrapping_add_signed(unix + 10);
        labels.push_str(&format!("@{tai:016x}{:08x} x\n", 123_456_789));
    }
    fs::write(t.join("labels"), labels).unwrap();
    let script = r#"set -e
unset TZ TZDIR
mount -t tmpfs tmpfs /etc
cp "$T/nine.tzif" /etc/localtime
mkfifo "$T/zone" "$T/in"
TZ=UTC tai64nlocal < "$T/labels" > "$T/utc"
TZ="$T/zone" timeout -s KILL 10 tai64nlocal < "$T/labels" > "$T/by-path"
TZ=":$T/zone" timeout -s KILL 10 tai64nlocal < "$T/labels" > "$T/by-colon"
TZ=zone TZDIR="$T" timeout -s KILL 10 tai64nlocal < "$T/labels" > "$T/by-dir"
echo one | TZ="$T/zone" timeout -s KILL 10 multilog t T "$T/log1" 2> "$T/err"
timeout -s KILL 20 multilog t T "$T/log2" < "$T/in" 2> "$T/err" &
ml=$!
exec 3> "$T/in"
echo before >&3
n=0; until grep -q before "$T/log2/current" 2>/dev/null; do sleep 0.1; n=$((n+1)); [ $n -lt 100 ]; done
mkfifo /etc/localtime.new
mv /etc/localtime.new /etc/localtime
s=$(TZ=UTC date +%s)
until [ "$(TZ=UTC date +%s)" -gt "$s" ]; do sleep 0.05; done
echo after >&3
exec 3>&-
wait $ml
timeout -s KILL 10 tai64nlocal < "$T/labels" > "$T/etc"
for f in log1 log2; do cut -d' ' -f1 "$T/$f/current" | TZ=UTC tai64nlocal > "$T/$f.utc"; done
"#;
    run_in_mount_namespace(script, t.path(), MULTILOG);
    let read = |f: &str| fs::read_to_string(t.join(f)).unwrap();
    let utc = read("utc");
    assert_eq!(utc.lines().count(), 13, "{utc}");
    assert!(!utc.contains('@'), "every label converted: {utc}");
    for f in ["by-path", "by-colon", "by-dir", "etc"] {
        assert_eq!(read(f), utc, "{f}");
    }
    // Each line: t's label, T's stamp (date and time), the text; T's stamp
    // against the label read as UTC.
    let stamps = |f: &str| -> Vec<(String, String, String)> {
        let text = read(&format!("{f}/current"));
        let utc = read(&format!("{f}.utc"));
        text.lines()
            .zip(utc.lines())
            .map(|(l, u)| {
                let w: Vec<&str> = l.splitn(4, ' ').collect();
                assert_eq!(w.len(), 4, "{f}: {l}");
                (
                    format!("{} {}", w[1], w[2]),
                    u.to_string(),
                    w[3].to_string(),
                )
            })
            .collect()
    };
    let one = stamps("log1");
    assert_eq!(one.len(), 1, "{one:?}");
    assert_eq!(one[0].0, one[0].1, "{one:?}");
    assert_eq!(one[0].2, "one");
    let two = stamps("log2");
    assert_eq!(two.len(), 2, "{two:?}");
    assert_eq!(
        stamp_seconds(&two[0].0) - stamp_seconds(&two[0].1),
        9 * 3600,
        "before: the zone file's time, {two:?}"
    );
    assert_eq!(
        (two[1].0.as_str(), two[1].2.as_str()),
        (two[1].1.as_str(), "after")
    );
    assert_eq!(read("err"), "");
}

#[test]
fn each_log_directory_costs_three_descriptors_and_nothing_more() {
    // A directory, its lock and its current: twelve directories and the
    // three standard descriptors fit under a limit of 40 (one left for the
    // start-up steps). Ours read its input through a duplicate of
    // descriptor 0 and failed there (unable to read input); the C multilog
    // fails at the twelfth directory.
    let t = TempDir::new("ml-fds");
    let dirs: Vec<String> = (1..=12).map(|i| format!("./d{i}")).collect();
    let sh = format!("ulimit -n 40 && exec {MULTILOG} {}", dirs.join(" "));
    let (code, out, err) = run_input("sh", &["-c", &sh], b"one line\n", t.path(), &[], &[]);
    assert_eq!(
        (code, out, String::from_utf8_lossy(&err).into_owned()),
        (0, vec![], String::new())
    );
    for d in &dirs {
        assert_eq!(
            fs::read(t.join(d).join("current")).unwrap(),
            b"one line\n",
            "{d}"
        );
    }
}

/// A standard input whose descriptor is non-blocking (set so by whoever
/// made the pipe) and empty for now: read's EAGAIN is not the end of the
/// input. multilog waits for the lines to come (the C one took it for the
/// end and exited at once, and every later line was lost), and never spins
/// meanwhile.
#[test]
fn a_non_blocking_empty_input_is_waited_for() {
    let t = TempDir::new("ml-nonblock");
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let flags = nix::fcntl::fcntl(&r, nix::fcntl::FcntlArg::F_GETFL).unwrap();
    let flags = nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(&r, nix::fcntl::FcntlArg::F_SETFL(flags)).unwrap();
    let mut c = Command::new(MULTILOG)
        .args(["e", "./main"])
        .current_dir(t.path())
        .stdin(Stdio::from(r))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Long enough for the original's exit; ours must still be there, and
    // have used a few clock ticks at most (a spin takes all 30).
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(c.try_wait().unwrap(), None, "multilog ended on EAGAIN");
    let stat = fs::read_to_string(format!("/proc/{}/stat", c.id())).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    // utime and stime, fields 14 and 15 of the whole line.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    assert!(ticks <= 5, "{ticks} ticks of CPU while waiting");
    let mut w = fs::File::from(w);
    w.write_all(b"late line\n").unwrap();
    drop(w);
    assert_eq!(exit_within(&mut c, 10.0), Some(0));
    let mut err = String::new();
    c.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert_eq!(err, "late line\n");
    assert_eq!(fs::read(t.join("main/current")).unwrap(), b"late line\n");
}

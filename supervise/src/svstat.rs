//! `svstat DIR...`: one line per directory on what supervise reports.
//!
//! Exit codes: 0, or 111 when the current directory cannot be opened or
//! returned to. The extensions (spec/extensions.md): `-o FIELD,...` prints
//! s6-svstat's fields, one line per directory; `-j` one JSON object per
//! directory; with either, a directory that cannot be read makes the exit
//! code 1 (s6-svstat's), and 100 is a bad option. One divergence (docs/divergences.md): a status file that
//! cannot be read (EISDIR, EIO, ...) is reported as
//! `unable to read supervise/status: ERRSTR`, where the C svstat formats
//! stale bytes into a nonsense uptime.

use std::ffi::OsString;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::ffi::OsStrExt;

use common::control::{self, Open};
use common::diag::{self, errno_of, ioerrstr};
use common::status::{self, Status};
use common::tai::{Tai64n, UNIX_EPOCH_LABEL};
use common::xstatus::{self, Sidecar, XStatus};

pub fn main(args: &[OsString]) -> i32 {
    diag::set_program("svstat");
    common::sys::sigpipe_default();
    let (mode, dirs) = match options(&args[1.min(args.len())..]) {
        Ok(x) => x,
        Err(()) => diag::usage("svstat [ -o field,... | -j ] dir ..."),
    };
    let home = File::open(".")
        .unwrap_or_else(|e| diag::fatal_sys(&[&"unable to open current directory"], errno_of(&e)));
    let mut out = Vec::with_capacity(1024);
    let mut failed = false;
    let now = common::tai::time_secs();
    for dir in dirs {
        match &mode {
            Mode::Plain => {
                out.extend_from_slice(dir.as_bytes());
                out.extend_from_slice(b": ");
                match load(dir) {
                    Ok(l) => format_status(&l.status, l.normally_up, now, &mut out),
                    Err(text) => out.extend_from_slice(text.as_bytes()),
                }
                out.push(b'\n');
            }
            Mode::Fields(fields) => match load(dir) {
                Ok(l) => {
                    for (i, f) in fields.iter().enumerate() {
                        if i > 0 {
                            out.push(b' ');
                        }
                        out.extend_from_slice(field_text(&l, *f, now).as_bytes());
                    }
                    out.push(b'\n');
                }
                Err(text) => {
                    failed = true;
                    diag::warn(&[dir, &": ", &text]);
                }
            },
            Mode::Json => {
                let l = load(dir);
                failed |= l.is_err();
                json_line(dir, l, now, &mut out);
            }
        }
        if let Err(e) = nix::unistd::fchdir(&home) {
            diag::fatal_sys(&[&"unable to set directory"], e);
        }
    }
    let _ = std::io::stdout().lock().write_all(&out);
    i32::from(failed)
}

/// What svstat prints.
enum Mode {
    /// The original's lines.
    Plain,
    /// `-o FIELD,...`
    Fields(Vec<Field>),
    /// `-j`
    Json,
}

/// The leading options: only `-o FIELDS` (or `-oFIELDS`), `-j` and `--`
/// are options; the first other argument is the first directory, as for
/// the original, which takes none.
fn options(args: &[OsString]) -> Result<(Mode, &[OsString]), ()> {
    let mut mode = Mode::Plain;
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let b = a.as_bytes();
        if b == b"--" {
            i += 1;
            break;
        } else if b == b"-j" {
            mode = Mode::Json;
        } else if let Some(rest) = b.strip_prefix(b"-o") {
            let list = if rest.is_empty() {
                i += 1;
                args.get(i).ok_or(())?.as_bytes()
            } else {
                rest
            };
            let fields = list
                .split(|&c| c == b',')
                .map(Field::parse)
                .collect::<Option<Vec<_>>>()
                .ok_or(())?;
            mode = Mode::Fields(fields);
        } else {
            break;
        }
        i += 1;
    }
    Ok((mode, &args[i..]))
}

/// What one directory's files say.
struct Loaded {
    status: Status,
    normally_up: bool,
    /// The sidecar, when one speaks of the status's pid.
    x: Option<XStatus>,
}

/// Reads one directory; the TEXT of the original's line on failure.
fn load(dir: &OsString) -> Result<Loaded, String> {
    if let Err(e) = std::env::set_current_dir(dir) {
        return Err(["unable to chdir: ", ioerrstr(&e)].concat());
    }
    let normally_up = match std::fs::metadata(control::DOWN) {
        Ok(_) => false,
        Err(e) if e.kind() == ErrorKind::NotFound => true,
        Err(e) => return Err(["unable to stat down: ", ioerrstr(&e)].concat()),
    };
    match control::open_fifo_writer(control::OK.as_ref()) {
        Open::Running(_) => {}
        Open::NotRunning => return Err("supervise not running".into()),
        Open::Error(e) => return Err(["unable to open supervise/ok: ", diag::errstr(e)].concat()),
    }
    let (st, x) = xstatus::read_pair_with(
        control::SUPERVISE_DIR.as_ref(),
        xstatus::BETWEEN_WRITES,
        read_status,
    )?;
    let x = match x {
        Sidecar::Matched(x) => Some(x),
        Sidecar::Absent | Sidecar::Mismatched => None,
    };
    Ok(Loaded {
        status: st,
        normally_up,
        x,
    })
}

/// The status record of the current directory's supervise.
fn read_status() -> Result<Status, String> {
    // Non-blocking, as the original's open_read: a FIFO in its place reads
    // as empty (bad format) instead of hanging.
    let mut f = match common::file::open_read(control::STATUS) {
        Ok(f) => f,
        Err(e) => return Err(["unable to open supervise/status: ", ioerrstr(&e)].concat()),
    };
    let mut buf = [0u8; status::LEN];
    let n = match f.read(&mut buf) {
        Ok(n) => n,
        Err(e) => return Err(["unable to read supervise/status: ", ioerrstr(&e)].concat()),
    };
    Status::decode(&buf[..n]).ok_or_else(|| "unable to read supervise/status: bad format".into())
}

/// The fields of `-o`, s6-svstat's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Up,
    WantedUp,
    NormallyUp,
    Ready,
    Paused,
    Pid,
    ExitCode,
    Signal,
    Signum,
    UpDownSince,
    ReadySince,
    UpDownFor,
    ReadyFor,
}

impl Field {
    const ALL: [(&'static str, Field); 13] = [
        ("up", Field::Up),
        ("wantedup", Field::WantedUp),
        ("normallyup", Field::NormallyUp),
        ("ready", Field::Ready),
        ("paused", Field::Paused),
        ("pid", Field::Pid),
        ("exitcode", Field::ExitCode),
        ("signal", Field::Signal),
        ("signum", Field::Signum),
        ("updownsince", Field::UpDownSince),
        ("readysince", Field::ReadySince),
        ("updownfor", Field::UpDownFor),
        ("readyfor", Field::ReadyFor),
    ];

    fn parse(name: &[u8]) -> Option<Field> {
        Self::ALL
            .iter()
            .find(|(n, _)| n.as_bytes() == name)
            .map(|&(_, f)| f)
    }
}

/// A field's value: known or not (`-1`/`?` for `-o`, null for `-j`).
enum Value {
    Bool(bool),
    Num(i64),
    Text(String),
    /// Unknown and numeric.
    NoNum,
    /// Unknown and not numeric.
    NoText,
}

fn value(l: &Loaded, f: Field, now: i64) -> Value {
    let st = &l.status;
    let up = st.pid != 0;
    let age = |t: Tai64n| {
        let now_label = UNIX_EPOCH_LABEL.wrapping_add(now as u64);
        now_label.saturating_sub(t.secs) as i64
    };
    // The last exit tells the exit code and signal only while down.
    let exit = l.x.and_then(|x| x.last_exit).filter(|_| !up);
    let ready = l.x.and_then(|x| x.ready).filter(|_| up);
    match f {
        Field::Up => Value::Bool(up),
        Field::WantedUp => Value::Bool(st.want == status::WANT_UP),
        Field::NormallyUp => Value::Bool(l.normally_up),
        Field::Ready => match l.x {
            Some(_) => Value::Bool(ready.is_some()),
            None => Value::NoText,
        },
        Field::Paused => Value::Bool(up && st.paused),
        Field::Pid => match up {
            true => Value::Num(i64::from(st.pid)),
            false => Value::NoNum,
        },
        Field::ExitCode => match exit {
            Some(e) if e.code < 256 => Value::Num(i64::from(e.code)),
            _ => Value::NoNum,
        },
        Field::Signal => match (l.x, exit) {
            (None, _) => Value::NoText,
            (Some(_), Some(e)) if e.signal != 0 => Value::Text(signal_name(e.signal)),
            (Some(_), _) => Value::Text("NA".into()),
        },
        Field::Signum => match exit {
            Some(e) if e.signal != 0 => Value::Num(i64::from(e.signal)),
            _ => Value::NoNum,
        },
        Field::UpDownSince => Value::Text(label(st.stamp)),
        Field::ReadySince => match ready {
            Some(t) => Value::Text(label(t)),
            None => Value::NoText,
        },
        Field::UpDownFor => Value::Num(age(st.stamp)),
        Field::ReadyFor => match ready {
            Some(t) => Value::Num(age(t)),
            None => Value::NoNum,
        },
    }
}

fn label(t: Tai64n) -> String {
    String::from_utf8_lossy(&t.label()).into_owned()
}

/// A signal's name: `SIGTERM`; a real-time one as `down-signal` takes it,
/// `SIGRTMIN+3`; another number as `SIG33`.
fn signal_name(n: u8) -> String {
    let n = i32::from(n);
    let min = nix::libc::SIGRTMIN();
    match nix::sys::signal::Signal::try_from(n) {
        Ok(s) => s.as_str().to_string(),
        Err(_) if n == min => "SIGRTMIN".into(),
        Err(_) if (min..=nix::libc::SIGRTMAX()).contains(&n) => format!("SIGRTMIN+{}", n - min),
        Err(_) => format!("SIG{n}"),
    }
}

fn field_text(l: &Loaded, f: Field, now: i64) -> String {
    match value(l, f, now) {
        Value::Bool(b) => b.to_string(),
        Value::Num(n) => n.to_string(),
        Value::Text(t) => t,
        Value::NoNum => "-1".into(),
        Value::NoText => "?".into(),
    }
}

/// Appends one JSON object and a newline.
fn json_line(dir: &OsString, l: Result<Loaded, String>, now: i64, out: &mut Vec<u8>) {
    let mut o = String::with_capacity(512);
    o.push_str("{\"dir\":");
    json_string(&dir.to_string_lossy(), &mut o);
    o.push_str(",\"supervise\":");
    match &l {
        Ok(l) => {
            o.push_str("true");
            for (name, f) in Field::ALL {
                o.push_str(",\"");
                o.push_str(name);
                o.push_str("\":");
                match value(l, f, now) {
                    Value::Bool(b) => o.push_str(if b { "true" } else { "false" }),
                    Value::Num(n) => o.push_str(&n.to_string()),
                    Value::Text(t) => json_string(&t, &mut o),
                    Value::NoNum | Value::NoText => o.push_str("null"),
                }
            }
            match l.x {
                Some(x) => {
                    o.push_str(&format!(",\"restarts\":{}", x.restarts));
                    o.push_str(&format!(",\"permanent_failure\":{}", x.permanent_failure));
                }
                None => o.push_str(",\"restarts\":null,\"permanent_failure\":null"),
            }
        }
        Err(text) => {
            o.push_str("false");
            for (name, _) in Field::ALL {
                o.push_str(&format!(",\"{name}\":null"));
            }
            o.push_str(",\"restarts\":null,\"permanent_failure\":null,\"error\":");
            json_string(text, &mut o);
        }
    }
    o.push_str("}\n");
    out.extend_from_slice(o.as_bytes());
}

fn json_string(s: &str, o: &mut String) {
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
}

/// The status description, e.g. `up (pid 7345) 1 seconds, paused`.
/// `now` is Unix seconds.
pub fn format_status(st: &Status, normally_up: bool, now: i64, out: &mut Vec<u8>) {
    let now_label = UNIX_EPOCH_LABEL.wrapping_add(now as u64);
    let secs = now_label.saturating_sub(st.stamp.secs);
    // The original computes the difference through a double.
    let secs = secs as f64 as u64;
    if st.pid != 0 {
        out.extend_from_slice(format!("up (pid {}) ", st.pid).as_bytes());
    } else {
        out.extend_from_slice(b"down ");
    }
    out.extend_from_slice(format!("{secs} seconds").as_bytes());
    if st.pid != 0 && !normally_up {
        out.extend_from_slice(b", normally down");
    }
    if st.pid == 0 && normally_up {
        out.extend_from_slice(b", normally up");
    }
    if st.pid != 0 && st.paused {
        out.extend_from_slice(b", paused");
    }
    if st.pid == 0 && st.want == status::WANT_UP {
        out.extend_from_slice(b", want up");
    }
    if st.pid != 0 && st.want == status::WANT_DOWN {
        out.extend_from_slice(b", want down");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names() {
        let min = nix::libc::SIGRTMIN();
        assert_eq!(signal_name(15), "SIGTERM");
        assert_eq!(signal_name(9), "SIGKILL");
        assert_eq!(signal_name(32), "SIG32");
        assert_eq!(signal_name(min as u8), "SIGRTMIN");
        assert_eq!(signal_name(min as u8 + 3), "SIGRTMIN+3");
        assert_eq!(
            signal_name(nix::libc::SIGRTMAX() as u8 + 1),
            format!("SIG{}", nix::libc::SIGRTMAX() + 1)
        );
    }

    fn fmt(pid: u32, ago: i64, paused: bool, want: u8, normally_up: bool) -> String {
        let now = 1_700_000_000;
        let st = Status {
            stamp: Tai64n::from_unix(now - ago, 0),
            pid,
            paused,
            want,
        };
        let mut v = Vec::new();
        format_status(&st, normally_up, now, &mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn spec_lines() {
        assert_eq!(fmt(7345, 1, false, b'u', true), "up (pid 7345) 1 seconds");
        assert_eq!(
            fmt(7345, 4, true, b'u', true),
            "up (pid 7345) 4 seconds, paused"
        );
        assert_eq!(fmt(0, 0, false, b'd', true), "down 0 seconds, normally up");
        assert_eq!(
            fmt(7601, 0, false, b'u', false),
            "up (pid 7601) 0 seconds, normally down"
        );
        assert_eq!(
            fmt(0, 100, false, b'u', true),
            "down 100 seconds, normally up, want up"
        );
        assert_eq!(fmt(0, 100, false, b'u', false), "down 100 seconds, want up");
        assert_eq!(
            fmt(123, 5, true, b'd', true),
            "up (pid 123) 5 seconds, paused, want down"
        );
        assert_eq!(
            fmt(123, 5, true, b'd', false),
            "up (pid 123) 5 seconds, normally down, paused, want down"
        );
        assert_eq!(fmt(5, -30, false, b'u', true), "up (pid 5) 0 seconds");
        assert_eq!(fmt(0, 3, false, 0, false), "down 3 seconds");
        assert_eq!(fmt(0, 3, false, b'x', true), "down 3 seconds, normally up");
    }
}

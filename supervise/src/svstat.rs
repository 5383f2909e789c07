//! `svstat DIR...`: one line per directory on what supervise reports.
//!
//! Exit codes: 0, or 111 when the current directory cannot be opened or
//! returned to. One divergence (docs/divergences.md): a status file that
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

pub fn main(args: &[OsString]) -> i32 {
    diag::set_program("svstat");
    let home = File::open(".")
        .unwrap_or_else(|e| diag::fatal_sys(&[&"unable to open current directory"], errno_of(&e)));
    let mut out = Vec::with_capacity(1024);
    for dir in args.iter().skip(1) {
        out.extend_from_slice(dir.as_bytes());
        out.extend_from_slice(b": ");
        describe(dir, &mut out);
        out.push(b'\n');
        if let Err(e) = nix::unistd::fchdir(&home) {
            diag::fatal_sys(&[&"unable to set directory"], e);
        }
    }
    let _ = std::io::stdout().lock().write_all(&out);
    0
}

/// Appends the TEXT of one directory's line (without the newline).
fn describe(dir: &OsString, out: &mut Vec<u8>) {
    if let Err(e) = std::env::set_current_dir(dir) {
        return text(out, &["unable to chdir: ", ioerrstr(&e)]);
    }
    let normally_up = match std::fs::metadata(control::DOWN) {
        Ok(_) => false,
        Err(e) if e.kind() == ErrorKind::NotFound => true,
        Err(e) => return text(out, &["unable to stat down: ", ioerrstr(&e)]),
    };
    match control::open_fifo_writer(control::OK.as_ref()) {
        Open::Running(_) => {}
        Open::NotRunning => return text(out, &["supervise not running"]),
        Open::Error(e) => return text(out, &["unable to open supervise/ok: ", diag::errstr(e)]),
    }
    // Non-blocking, as the original's open_read: a FIFO in its place reads
    // as empty (bad format) instead of hanging.
    let mut f = match common::file::open_read(control::STATUS) {
        Ok(f) => f,
        Err(e) => return text(out, &["unable to open supervise/status: ", ioerrstr(&e)]),
    };
    let mut buf = [0u8; status::LEN];
    let n = match f.read(&mut buf) {
        Ok(n) => n,
        Err(e) => return text(out, &["unable to read supervise/status: ", ioerrstr(&e)]),
    };
    let Some(st) = Status::decode(&buf[..n]) else {
        return text(out, &["unable to read supervise/status: bad format"]);
    };
    format_status(&st, normally_up, Tai64n::now().unix_secs(), out);
}

fn text(out: &mut Vec<u8>, parts: &[&str]) {
    for p in parts {
        out.extend_from_slice(p.as_bytes());
    }
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

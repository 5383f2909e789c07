//! `readproctitle ARG... DOTS`: show the most recent bytes of stdin in our
//! own command line, where `ps` sees them (spec/svscan.md).
//!
//! The last argument is the display area: it is filled with dots, then
//! every byte read (NULs skipped) shifts positions 4.. one place left and
//! lands at the end; positions 0-2 stay `...`. Exit codes: 0 at end of
//! input, 100 (silently) without arguments or with an area shorter than 5
//! bytes, 111 on a read error.
//!
//! The area is the process's real argv memory (what /proc/PID/cmdline
//! shows), rewritten by `common::sys::ArgvArea`.

use std::ffi::OsString;
use std::io::{ErrorKind, Read};
use std::os::unix::ffi::OsStrExt;

/// The shortest display area accepted.
pub const MIN_AREA: usize = 5;

/// Positions of the area that always stay `.`.
const FIXED_DOTS: usize = 3;

/// Feeds input bytes into the display area.
pub fn feed(area: &mut [u8], input: &[u8]) {
    let len = area.len();
    for &b in input {
        if b == 0 {
            continue;
        }
        area.copy_within(FIXED_DOTS + 1..len, FIXED_DOTS);
        area[len - 1] = b;
    }
}

pub fn main(args: &[OsString]) -> i32 {
    common::diag::set_program("readproctitle");
    // The original leaves SIGPIPE at its default: a `kill -PIPE` ends it.
    common::sys::sigpipe_default();
    let Some(last) = args.get(1..).and_then(|a| a.last()) else {
        return 100;
    };
    let len = last.as_bytes().len();
    let mut area = vec![b'.'; len];
    let target = common::sys::ArgvArea::last_argument(len);
    let show = |area: &[u8]| {
        if let Some(t) = &target {
            t.show(area);
        }
    };
    show(&area);
    if len < MIN_AREA {
        return 100;
    }
    let mut stdin = common::file::stdin();
    let mut buf = [0u8; 4096];
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => return 0,
            Ok(n) => {
                feed(&mut area, &buf[..n]);
                show(&area);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return 111,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example() {
        let mut area = vec![b'.'; 20];
        feed(&mut area, b"fatal error xyz\nwarning abc\n");
        assert_eq!(area, b"... xyz\nwarning abc\n");
    }

    #[test]
    fn nul_ignored_and_dots_kept() {
        let mut area = vec![b'.'; 5];
        feed(&mut area, b"ab\0c");
        assert_eq!(area, b"...bc");
        feed(&mut area, b"xyz");
        assert_eq!(area, b"...yz");
    }
}

//! `envdir dir child`: set or remove environment variables from the files
//! of dir, then exec child.
//!
//! For each entry not starting with `.`: an empty file removes the
//! variable; otherwise its first line, trailing spaces and tabs removed, NUL
//! bytes turned into newlines, becomes the value. Exit codes: **111** for
//! usage (as the original) and for every failure, else the child's.
//!
//! Divergence (docs/divergences.md): an entry that vanishes or is a dangling
//! symlink is treated as an empty file; the original reuses the previous
//! file's value.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::unix::ffi::OsStrExt;

use common::diag::{self, errno_of};
use common::exec::{self, EnvEdit};

/// What one file of the directory does to the environment.
pub fn value_of(content: &[u8]) -> Option<Vec<u8>> {
    if content.is_empty() {
        return None;
    }
    let line = match content.iter().position(|&b| b == b'\n') {
        Some(i) => &content[..i],
        None => content,
    };
    let end = line
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |i| i + 1);
    Some(
        line[..end]
            .iter()
            .map(|&b| if b == 0 { b'\n' } else { b })
            .collect(),
    )
}

/// The longest first line read from an entry. Linux refuses a single
/// environment string over 128 KiB (MAX_ARG_STRLEN) at exec, so a longer
/// value could never reach the child; past this bound the entry is "out of
/// memory", as the original ends on a file of unbounded size (/dev/zero).
pub const LINE_MAX: usize = 1 << 20;

/// Reads an entry up to the end of its first line (all that is used) or
/// LINE_MAX bytes. Opened non-blocking as the original's open_read: a FIFO
/// without a writer reads as empty, one whose writer is silent fails with
/// "temporary failure", never a hang.
fn read_first_line(name: &OsStr, content: &mut Vec<u8>) -> std::io::Result<()> {
    let mut f = common::file::open_read(name)?;
    let mut buf = [0u8; 8192];
    loop {
        let n = match f.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(());
        }
        // Memory for it, or "out of memory" naming the entry, as the
        // original says under a tight limit.
        common::sys::extend_or_enomem(content, &buf[..n])?;
        if buf[..n].contains(&b'\n') {
            return Ok(());
        }
        if content.len() > LINE_MAX {
            return Err(std::io::Error::from_raw_os_error(nix::libc::ENOMEM));
        }
    }
}

pub fn main(args: &[OsString]) -> i32 {
    diag::set_program("envdir");
    if args.len() < 3 {
        diag::usage_code(diag::EXIT_TEMP, "envdir dir child");
    }
    let dir = &args[1];
    let home = File::open(".").unwrap_or_else(|e| {
        diag::fatal_sys(&[&"unable to switch to current directory"], errno_of(&e))
    });
    if let Err(e) = std::env::set_current_dir(dir) {
        diag::fatal_sys(&[&"unable to switch to directory ", dir], errno_of(&e));
    }
    let unreadable = |e: &std::io::Error| -> ! {
        diag::fatal_sys(&[&"unable to read directory ", dir], errno_of(e))
    };
    let entries = std::fs::read_dir(".").unwrap_or_else(|e| unreadable(&e));
    let mut edit = EnvEdit::new();
    let mut content = Vec::new();
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| unreadable(&e));
        let name = entry.file_name();
        if name.as_bytes().first() == Some(&b'.') {
            continue;
        }
        content.clear();
        match read_first_line(&name, &mut content) {
            Ok(()) => {}
            // Vanished, or a dangling symlink: as an empty file.
            Err(e) if e.kind() == ErrorKind::NotFound => content.clear(),
            Err(e) => diag::fatal_sys(&[&"unable to read ", dir, &"/", &name], errno_of(&e)),
        }
        match value_of(&content) {
            None => edit.unset(&name),
            Some(v) => edit.set(&name, OsStr::from_bytes(&v)),
        }
    }
    if let Err(e) = nix::unistd::fchdir(&home) {
        diag::fatal_sys(&[&"unable to switch to starting directory"], e);
    }
    exec::chain(&args[2..], Some(&edit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples() {
        assert_eq!(
            value_of(b"value  \t \nsecond line\n"),
            Some(b"value".to_vec())
        );
        assert_eq!(value_of(b""), None);
        assert_eq!(value_of(b"x\0y\0z"), Some(b"x\ny\nz".to_vec()));
        assert_eq!(value_of(b"   "), Some(b"".to_vec()));
        assert_eq!(value_of(b"\nfoo"), Some(b"".to_vec()));
        assert_eq!(value_of(b"a\r \n"), Some(b"a\r".to_vec()));
        assert_eq!(value_of(b"x\0 "), Some(b"x\n".to_vec()));
    }

    #[test]
    fn any_content_gives_a_value_or_removal() {
        // Random contents with a fixed seed (PARSER_CASES=N for more): the
        // value is the first line, blanks stripped at its end, NULs as
        // newlines; never a panic.
        let mut r = testutil::Rand::new(0x5eed_0301);
        for _ in 0..testutil::cases(50_000) {
            let n = r.below(40);
            let c = r.from(b"ab \t\n\0\r=", n);
            match value_of(&c) {
                None => assert!(c.is_empty()),
                Some(v) => {
                    let line = c.split(|&b| b == b'\n').next().unwrap();
                    assert!(v.len() <= line.len());
                    assert!(!v.ends_with(b" ") && !v.ends_with(b"\t"));
                    assert!(!v.contains(&0));
                }
            }
        }
    }
}

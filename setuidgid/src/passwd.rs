//! Account lookup by reading `/etc/passwd` ourselves, as glibc's `files`
//! source does: the first entry whose name matches wins; blank lines,
//! comments (`#`) and NIS `+`/`-` entries are passed over, and so is an
//! entry whose uid or gid is not a decimal number.
//!
//! A statically linked build uses only this: its libc's lookup would have
//! to load the host's NSS modules, of another libc version or none at all
//! in an image that holds nothing else. A dynamic build asks the system
//! (NSS: LDAP, systemd's dynamic users, ...) and comes here only when that
//! lookup itself fails.

use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

/// The ids of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
}

/// A line longer than this is not an account (and is skipped whole).
const MAX_LINE: u64 = 64 * 1024;

/// The account `name` in the passwd file at `path`; `Ok(None)` if absent.
/// Opened non-blocking and read a line at a time: a FIFO or a huge file
/// in its place costs nothing but the search.
pub fn lookup(path: impl AsRef<Path>, name: &[u8]) -> io::Result<Option<Ids>> {
    let file = common::file::open_read(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::from_raw_os_error(nix::libc::EINVAL));
    }
    find(BufReader::new(file), name)
}

/// [`lookup`] over any reader (the parser alone, for tests).
pub fn find(mut r: impl BufRead, name: &[u8]) -> io::Result<Option<Ids>> {
    if name.is_empty() || name.contains(&b':') || name.contains(&b'\n') {
        return Ok(None);
    }
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut r).take(MAX_LINE).read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(None);
        }
        if line.last() != Some(&b'\n') && n as u64 == MAX_LINE {
            // Too long: skip to the end of this line.
            skip_line(&mut r)?;
            continue;
        }
        if let Some(ids) = entry(&line, name) {
            return Ok(Some(ids));
        }
    }
}

fn skip_line(r: &mut impl BufRead) -> io::Result<()> {
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                r.consume(i + 1);
                return Ok(());
            }
            None => {
                let n = buf.len();
                r.consume(n);
            }
        }
    }
}

/// The ids on one passwd line if it is `name`'s entry.
fn entry(line: &[u8], name: &[u8]) -> Option<Ids> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let start = line.iter().position(|b| !b.is_ascii_whitespace())?;
    let line = &line[start..];
    if matches!(line.first(), Some(b'#' | b'+' | b'-')) {
        return None;
    }
    let mut fields = line.split(|&b| b == b':');
    if fields.next()? != name {
        return None;
    }
    let _password = fields.next()?;
    let uid = number(fields.next()?)?;
    let gid = number(fields.next()?)?;
    Some(Ids { uid, gid })
}

fn number(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 10 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn look(text: &str, name: &str) -> Option<Ids> {
        find(text.as_bytes(), name.as_bytes()).unwrap()
    }

    #[test]
    fn first_matching_entry_wins() {
        let t = "root:x:0:0:root:/root:/bin/sh\n\
                 daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
                 qmaild:x:1001:1002::/var/qmail:/bin/false\n\
                 qmaild:x:7:7::/:\n";
        assert_eq!(look(t, "root"), Some(Ids { uid: 0, gid: 0 }));
        assert_eq!(
            look(t, "qmaild"),
            Some(Ids {
                uid: 1001,
                gid: 1002
            })
        );
        assert_eq!(look(t, "qmail"), None);
        assert_eq!(look(t, "qmaild:x"), None);
        assert_eq!(look(t, ""), None);
    }

    #[test]
    fn comments_blanks_nis_and_bad_numbers_are_passed_over() {
        let t = "# comment\n\n   \n+alias::::::\n-alias\n\
                 alias:x:12a:1::/:\nalias:x::1::/:\nalias:x:99999999999:1::/:\n\
                 \talias:x:70:71:the one:/var/qmail/alias:/bin/false\n";
        assert_eq!(look(t, "alias"), Some(Ids { uid: 70, gid: 71 }));
        assert_eq!(look(t, "#"), None);
        assert_eq!(look(t, "+alias"), None);
    }

    #[test]
    fn short_entries_and_a_last_line_without_newline() {
        assert_eq!(look("a:x:5", "a"), None);
        assert_eq!(look("a:x:5:6", "a"), Some(Ids { uid: 5, gid: 6 }));
        assert_eq!(
            look("a:x:4294967295:6\n", "a"),
            Some(Ids {
                uid: u32::MAX,
                gid: 6
            })
        );
    }

    #[test]
    fn an_over_long_line_is_skipped_whole() {
        let mut t = "x".repeat(MAX_LINE as usize * 3);
        t.push_str(":x:1:1\nb:x:2:3\n");
        assert_eq!(look(&t, "b"), Some(Ids { uid: 2, gid: 3 }));
        let mut t = "b:x:9:9:".to_string();
        t.push_str(&"y".repeat(MAX_LINE as usize));
        t.push_str("\nb:x:2:3\n");
        assert_eq!(look(&t, "b"), Some(Ids { uid: 2, gid: 3 }));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = testutil::Rand::new(0x70a55);
        for _ in 0..testutil::cases(2000) {
            let n = rng.below(300);
            let buf = rng.from(b":0123456789ab\n#+- \t", n);
            let name = rng.from(b"ab0:", 2);
            // Whatever is found is on one of the lines, as written.
            if let Some(ids) = find(&buf[..], &name).unwrap() {
                let want = format!(":{}:{}", ids.uid, ids.gid);
                assert!(buf.split(|&b| b == b'\n').any(|l| {
                    let l = l.trim_ascii_start();
                    l.starts_with(&name)
                        && l.get(name.len()) == Some(&b':')
                        && l.windows(want.len()).any(|w| w == want.as_bytes())
                }));
            }
        }
    }
}

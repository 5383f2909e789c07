//! The small getopt of the originals (spec/common.md §3).
//!
//! Not GNU getopt: options are recognised only before the first operand;
//! `--` ends them and is consumed, and so is any argument that begins with
//! `--` (`--help`: the original looks no further than those two bytes); a
//! lone `-` ends them and is kept as the first operand; flags bundle
//! (`-dx`); a value is attached (`-c10`, also after other flags: `-Rc10`)
//! or the next argument (`-c 10`). Complaints name the basename of
//! `argv[0]`, not the fixed program name.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use crate::diag;

/// One parsed option.
#[derive(Debug, PartialEq, Eq)]
pub struct Opt<'a> {
    pub letter: u8,
    /// The value, for a letter declared with `:`.
    pub value: Option<&'a OsStr>,
}

/// Why an option could not be parsed; the complaint has already been printed.
#[derive(Debug, PartialEq, Eq)]
pub enum OptError {
    /// `NAME: illegal option -- x`
    Illegal(u8),
    /// `NAME: option requires an argument -- x`
    MissingValue(u8),
}

/// Iterates over the options of `args` (the whole argv, `args[0]` included).
pub struct Getopt<'a> {
    args: &'a [OsString],
    spec: &'static [u8],
    ind: usize,
    pos: usize,
    done: bool,
}

impl<'a> Getopt<'a> {
    /// `spec` lists the option letters; a letter followed by `:` takes a value.
    pub fn new(args: &'a [OsString], spec: &'static str) -> Self {
        Getopt {
            args,
            spec: spec.as_bytes(),
            ind: 1,
            pos: 0,
            done: false,
        }
    }

    /// The arguments after the options (valid once iteration has ended).
    pub fn operands(&self) -> &'a [OsString] {
        &self.args[self.ind.min(self.args.len())..]
    }

    fn takes_value(&self, c: u8) -> Option<bool> {
        let i = self.spec.iter().position(|&s| s == c && c != b':')?;
        Some(self.spec.get(i + 1) == Some(&b':'))
    }

    fn complain(&self, what: &str, c: u8) {
        let argv0 = self.args.first().map(|a| a.as_bytes()).unwrap_or(b"");
        let name = match argv0.iter().rposition(|&b| b == b'/') {
            Some(i) => &argv0[i + 1..],
            None => argv0,
        };
        let mut v = Vec::with_capacity(64);
        v.extend_from_slice(name);
        v.extend_from_slice(what.as_bytes());
        v.push(c);
        v.push(b'\n');
        diag::write_line(&v);
    }
}

impl<'a> Iterator for Getopt<'a> {
    type Item = Result<Opt<'a>, OptError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.pos == 0 {
            let Some(arg) = self.args.get(self.ind) else {
                self.done = true;
                return None;
            };
            let a = arg.as_bytes();
            if a.first() != Some(&b'-') || a == b"-" {
                self.done = true;
                return None;
            }
            if a.starts_with(b"--") {
                self.ind += 1;
                self.done = true;
                return None;
            }
            self.pos = 1;
        }
        let arg = self.args[self.ind].as_bytes();
        let c = arg[self.pos];
        self.pos += 1;
        let at_end = self.pos >= arg.len();
        match self.takes_value(c) {
            None => {
                if at_end {
                    self.ind += 1;
                    self.pos = 0;
                }
                self.complain(": illegal option -- ", c);
                Some(Err(OptError::Illegal(c)))
            }
            Some(false) => {
                if at_end {
                    self.ind += 1;
                    self.pos = 0;
                }
                Some(Ok(Opt {
                    letter: c,
                    value: None,
                }))
            }
            Some(true) => {
                let value = if !at_end {
                    let v = OsStr::from_bytes(&arg[self.pos..]);
                    self.ind += 1;
                    v
                } else if let Some(v) = self.args.get(self.ind + 1) {
                    self.ind += 2;
                    v.as_os_str()
                } else {
                    self.ind += 1;
                    self.pos = 0;
                    self.complain(": option requires an argument -- ", c);
                    return Some(Err(OptError::MissingValue(c)));
                };
                self.pos = 0;
                Some(Ok(Opt {
                    letter: c,
                    value: Some(value),
                }))
            }
        }
    }
}

/// `scan_ulong`: leading decimal digits, the rest ignored, wrapping modulo
/// 2^64 (`"12abc"` is 12, `"abc"` is 0). Returns the value and how many
/// bytes were digits.
pub fn scan_ulong(s: &[u8]) -> (u64, usize) {
    let mut v: u64 = 0;
    let mut n = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            break;
        }
        v = v.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
        n += 1;
    }
    (v, n)
}

/// Seconds as the originals use them where they hand a `scan_ulong` value
/// to a function that takes an `unsigned int` (`timeoutconn`, `remoteinfo`,
/// `alarm`): the value modulo 2^32. `-T 4294967297` is one second there,
/// and no value can make a deadline past what an `Instant` holds.
pub fn uint_seconds(n: u64) -> std::time::Duration {
    std::time::Duration::from_secs(u64::from(n as u32))
}

/// `fmt_ulong`: `n` in decimal, written at the end of `buf` (no
/// allocation: tcpserver's parent writes ports per connection).
pub fn fmt_ulong(n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    let mut n = n;
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_as_to_string() {
        let mut buf = [0u8; 20];
        for n in [0, 1, 9, 10, 99, 100, 65535, u64::MAX] {
            assert_eq!(fmt_ulong(n, &mut buf), n.to_string().as_bytes());
        }
    }

    fn argv(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    type Parsed = (Vec<(char, Option<String>)>, Vec<String>, bool);

    fn parse(v: &[&str], spec: &'static str) -> Parsed {
        let a = argv(v);
        let mut g = Getopt::new(&a, spec);
        let mut opts = Vec::new();
        let mut err = false;
        for o in g.by_ref() {
            match o {
                Ok(o) => opts.push((
                    o.letter as char,
                    o.value.map(|v| v.to_string_lossy().into_owned()),
                )),
                Err(_) => {
                    err = true;
                    break;
                }
            }
        }
        let ops = g
            .operands()
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        (opts, ops, err)
    }

    #[test]
    fn bundled_and_values() {
        let (o, ops, e) = parse(&["x", "-dx", "-c10", "-c", "5", "-Rc7", "a", "-u"], "dxRc:");
        assert!(!e);
        assert_eq!(
            o,
            vec![
                ('d', None),
                ('x', None),
                ('c', Some("10".into())),
                ('c', Some("5".into())),
                ('R', None),
                ('c', Some("7".into())),
            ]
        );
        assert_eq!(ops, vec!["a", "-u"]);
    }

    #[test]
    fn double_dash_and_lone_dash() {
        let (o, ops, _) = parse(&["x", "-d", "--", "-x"], "dx");
        assert_eq!(o, vec![('d', None)]);
        assert_eq!(ops, vec!["-x"]);
        // As in the original, an argument that begins with `--` is taken
        // for `--`, whatever follows.
        let (o, ops, e) = parse(&["x", "-d", "--xd", "-x"], "dx");
        assert!(!e);
        assert_eq!(o, vec![('d', None)]);
        assert_eq!(ops, vec!["-x"]);
        let (o, ops, _) = parse(&["x", "-d", "-", "-x"], "dx");
        assert_eq!(o, vec![('d', None)]);
        assert_eq!(ops, vec!["-", "-x"]);
    }

    #[test]
    fn errors() {
        let a = argv(&["/usr/bin/svc", "-dz"]);
        let mut g = Getopt::new(&a, "dx");
        assert_eq!(
            g.next(),
            Some(Ok(Opt {
                letter: b'd',
                value: None
            }))
        );
        assert_eq!(g.next(), Some(Err(OptError::Illegal(b'z'))));
        let a = argv(&["t", "-c"]);
        let mut g = Getopt::new(&a, "c:");
        assert_eq!(g.next(), Some(Err(OptError::MissingValue(b'c'))));
    }

    #[test]
    fn scan() {
        assert_eq!(scan_ulong(b"12abc"), (12, 2));
        assert_eq!(scan_ulong(b"abc"), (0, 0));
        assert_eq!(scan_ulong(b"18446744073709551616").0, 0);
        assert_eq!(uint_seconds(4_294_967_297).as_secs(), 1);
        assert_eq!(uint_seconds(4_294_967_296).as_secs(), 0);
        assert_eq!(uint_seconds(u64::MAX).as_secs(), u64::from(u32::MAX));
    }
}

//! `softlimit [-acdflmoprst n] child`: lower soft resource limits, then exec.
//!
//! Each option sets the soft limit of its resources at once, in command-line
//! order; `=` means "the hard limit"; a value above the hard limit is clamped
//! to it. Exit codes: 100 usage, 111 getrlimit/setrlimit/exec failure.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use common::args::{scan_ulong, Getopt};
use common::diag;
use common::exec;
use nix::sys::resource::{getrlimit, setrlimit, Resource};

const USAGE: &str = "softlimit [-a allbytes] [-c corebytes] [-d databytes] [-f filebytes] [-l lockbytes] [-m membytes] [-o openfiles] [-p processes] [-r residentbytes] [-s stackbytes] [-t cpusecs] child";

/// The value of an option: a number, or `=` for the hard limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Hard,
    Value(u64),
}

/// Parses an option value: exactly `=`, or only decimal digits (an empty
/// string is 0). Anything else is a usage error.
pub fn parse_limit(s: &OsStr) -> Option<Limit> {
    let b = s.as_bytes();
    if b == b"=" {
        return Some(Limit::Hard);
    }
    let (v, n) = scan_ulong(b);
    (n == b.len()).then_some(Limit::Value(v))
}

/// The resources an option letter sets, in the original's order.
pub fn resources(letter: u8) -> &'static [Resource] {
    use Resource::*;
    match letter {
        b'a' => &[RLIMIT_AS],
        b'c' => &[RLIMIT_CORE],
        b'd' => &[RLIMIT_DATA],
        b'f' => &[RLIMIT_FSIZE],
        b'l' => &[RLIMIT_MEMLOCK],
        b'm' => &[RLIMIT_DATA, RLIMIT_STACK, RLIMIT_MEMLOCK, RLIMIT_AS],
        b'o' => &[RLIMIT_NOFILE],
        b'p' => &[RLIMIT_NPROC],
        b'r' => &[RLIMIT_RSS],
        b's' => &[RLIMIT_STACK],
        b't' => &[RLIMIT_CPU],
        _ => &[],
    }
}

fn apply(r: Resource, limit: Limit) {
    let (_, hard) = getrlimit(r).unwrap_or_else(|e| diag::fatal_sys(&[&"getrlimit failed"], e));
    let soft = match limit {
        Limit::Hard => hard,
        Limit::Value(v) => v.min(hard),
    };
    if let Err(e) = setrlimit(r, soft, hard) {
        diag::fatal_sys(&[&"setrlimit failed"], e);
    }
}

pub fn main(args: &[OsString]) -> i32 {
    diag::set_program("softlimit");
    let mut g = Getopt::new(args, "a:c:d:f:l:m:o:p:r:s:t:");
    for o in g.by_ref() {
        let Ok(o) = o else { diag::usage(USAGE) };
        let Some(limit) = o.value.and_then(parse_limit) else {
            diag::usage(USAGE)
        };
        for &r in resources(o.letter) {
            apply(r, limit);
        }
    }
    let child = g.operands();
    if child.is_empty() {
        diag::usage(USAGE);
    }
    exec::chain(child, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(parse_limit(OsStr::new("=")), Some(Limit::Hard));
        assert_eq!(parse_limit(OsStr::new("123")), Some(Limit::Value(123)));
        assert_eq!(parse_limit(OsStr::new("")), Some(Limit::Value(0)));
        assert_eq!(parse_limit(OsStr::new("12k")), None);
        assert_eq!(parse_limit(OsStr::new("=5")), None);
        assert_eq!(parse_limit(OsStr::new("-1")), None);
    }

    #[test]
    fn memory_sets_four() {
        assert_eq!(resources(b'm').len(), 4);
        for l in *b"acdflmoprst" {
            assert!(!resources(l).is_empty());
        }
    }
}

//! multilog's script, compiled once at start (spec/multilog.md, "Action
//! syntax"). Every argument is one action, classified by its first byte.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use common::args::scan_ulong;

/// Smallest `s` value (smaller values, 0 included, become this).
pub const MIN_SIZE: u64 = 4096;
/// Largest `s` value.
pub const MAX_SIZE: u64 = 16_777_215;
/// `s` before any `s` action.
pub const DEFAULT_SIZE: u64 = 99_999;
/// Smallest `n` value.
pub const MIN_NUM: u64 = 2;
/// `n` before any `n` action.
pub const DEFAULT_NUM: u64 = 10;

/// One action applied to every line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `-PATTERN`: deselect if it matches.
    Deselect(Vec<u8>),
    /// `+PATTERN`: select if it matches.
    Select(Vec<u8>),
    /// `e`: copy selected lines to stderr.
    Stderr,
    /// `=FILE`: the index of a status file in [`Script::status_files`].
    Status(usize),
    /// A log directory: the index in [`Script::dirs`].
    Dir(usize),
}

/// A log directory with the settings in force at its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirSpec {
    pub path: OsString,
    pub size: u64,
    pub num: u64,
    /// `!PROCESSOR`, run as `sh -c PROCESSOR`.
    pub processor: Option<OsString>,
    /// `R<secs>` (an extension): also rotate a non-empty `current` whose
    /// first line is this old; 0 = off.
    pub rotate_secs: u64,
    /// `S<bytes>` (an extension): at most this many bytes of old files;
    /// 0 = no cap.
    pub cap: u64,
}

/// A compiled script.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    /// `t` as the first argument.
    pub timestamp: bool,
    /// `T` anywhere (an extension): a local-time stamp after `t`'s; the
    /// patterns then match the line after the stamps.
    pub local_stamp: bool,
    pub actions: Vec<Action>,
    pub dirs: Vec<DirSpec>,
    pub status_files: Vec<OsString>,
}

/// Compiles the arguments (without `argv[0]`). Never fails: unknown actions
/// are ignored, as by the original.
pub fn compile(args: &[OsString]) -> Script {
    let mut s = Script::default();
    let (mut size, mut num, mut processor) = (DEFAULT_SIZE, DEFAULT_NUM, None);
    let (mut rotate_secs, mut cap) = (0, 0);
    for (i, arg) in args.iter().enumerate() {
        let a = arg.as_bytes();
        let Some(&first) = a.first() else { continue };
        let rest = &a[1..];
        match first {
            b't' if i == 0 => s.timestamp = true,
            b'-' => s.actions.push(Action::Deselect(rest.to_vec())),
            b'+' => s.actions.push(Action::Select(rest.to_vec())),
            b'e' => s.actions.push(Action::Stderr),
            b'=' => {
                s.actions.push(Action::Status(s.status_files.len()));
                s.status_files.push(OsString::from_vec(rest.to_vec()));
            }
            b's' => size = scan_ulong(rest).0.clamp(MIN_SIZE, MAX_SIZE),
            b'n' => num = scan_ulong(rest).0.max(MIN_NUM),
            b'!' => processor = Some(OsString::from_vec(rest.to_vec())),
            b'T' => s.local_stamp = true,
            b'R' => rotate_secs = scan_ulong(rest).0,
            b'S' => cap = scan_ulong(rest).0,
            b'.' | b'/' => {
                s.actions.push(Action::Dir(s.dirs.len()));
                s.dirs.push(DirSpec {
                    path: arg.clone(),
                    size,
                    num,
                    processor: processor.clone(),
                    rotate_secs,
                    cap,
                });
            }
            _ => {}
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(v: &[&str]) -> Script {
        compile(&v.iter().map(OsString::from).collect::<Vec<_>>())
    }

    #[test]
    fn settings_apply_to_later_dirs() {
        let s = c(&[
            "tfoo",
            "./a",
            "s100",
            "n1",
            "!gzip",
            "./b",
            "s99999999",
            "n5",
            "/c",
            "t",
        ]);
        assert!(s.timestamp);
        assert_eq!(
            s.dirs[0],
            DirSpec {
                path: "./a".into(),
                size: 99_999,
                num: 10,
                processor: None,
                rotate_secs: 0,
                cap: 0
            }
        );
        assert_eq!(
            s.dirs[1],
            DirSpec {
                path: "./b".into(),
                size: 4096,
                num: 2,
                processor: Some("gzip".into()),
                rotate_secs: 0,
                cap: 0
            }
        );
        assert_eq!(s.dirs[2].size, MAX_SIZE);
        assert_eq!(s.dirs[2].num, 5);
        assert_eq!(
            s.actions,
            vec![Action::Dir(0), Action::Dir(1), Action::Dir(2)]
        );
    }

    #[test]
    fn extensions_t_r_s() {
        let s = c(&["t", "./a", "R86400", "S1000000", "./b", "T", "R0", "./c"]);
        assert!(s.timestamp && s.local_stamp);
        assert_eq!((s.dirs[0].rotate_secs, s.dirs[0].cap), (0, 0));
        assert_eq!((s.dirs[1].rotate_secs, s.dirs[1].cap), (86400, 1_000_000));
        assert_eq!((s.dirs[2].rotate_secs, s.dirs[2].cap), (0, 1_000_000));
        assert!(!c(&["t", "./a"]).local_stamp);
    }

    #[test]
    fn actions_in_order() {
        let s = c(&["-*", "+x*", "echo", "=st", "xyz", "", ".", "s12abc"]);
        assert!(!s.timestamp);
        assert_eq!(
            s.actions,
            vec![
                Action::Deselect(b"*".to_vec()),
                Action::Select(b"x*".to_vec()),
                Action::Stderr,
                Action::Status(0),
                Action::Dir(0),
            ]
        );
        assert_eq!(s.status_files, vec![OsString::from("st")]);
        assert_eq!(s.dirs[0].path, OsString::from("."));
    }
}

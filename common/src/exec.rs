//! `pathexec`: running the program named on a command line
//! (spec/common.md §4 and §5).
//!
//! A name with a `/` is exec'd as is; otherwise each element of `$PATH`
//! (`/bin:/usr/bin` when unset; an empty element is `.`) is tried in order.
//! ENOENT moves on silently; EACCES, EPERM and EISDIR are remembered and the
//! search moves on; any other error stops it. No shell fallback on ENOEXEC.
//! argv is passed unchanged (argv[0] is the name as given).

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use nix::errno::Errno;
use nix::sys::signal::Signal;

use crate::sys;

/// Default search path when `$PATH` is unset.
pub const DEFAULT_PATH: &[u8] = b"/bin:/usr/bin";

/// Queued environment changes, applied in order just before exec.
#[derive(Debug, Default, Clone)]
pub struct EnvEdit {
    changes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl EnvEdit {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues "set NAME to VALUE".
    pub fn set(&mut self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) {
        self.changes.push((
            name.as_ref().as_bytes().to_vec(),
            Some(value.as_ref().as_bytes().to_vec()),
        ));
    }

    /// Queues "remove NAME".
    pub fn unset(&mut self, name: impl AsRef<OsStr>) {
        self.changes.push((name.as_ref().as_bytes().to_vec(), None));
    }

    /// The names changed, in order (with repetitions).
    pub fn names(&self) -> impl Iterator<Item = &[u8]> {
        self.changes
            .iter()
            .map(|(n, _)| match n.iter().position(|&b| b == b'=') {
                Some(i) => &n[..i],
                None => &n[..],
            })
    }

    /// Applies the changes to `env` (entries `NAME=VALUE`), as the original:
    /// each change deletes the first entry of that name (the last entry takes
    /// its slot), then a "set" appends `NAME=VALUE`. A NAME containing `=`
    /// is split at its first `=`.
    pub fn apply(&self, env: &mut Vec<Vec<u8>>) {
        for (name, value) in &self.changes {
            let key = match name.iter().position(|&b| b == b'=') {
                Some(i) => &name[..i],
                None => &name[..],
            };
            if let Some(i) = env.iter().position(|e| entry_name(e) == key) {
                env.swap_remove(i);
            }
            if let Some(v) = value {
                let mut e = Vec::with_capacity(name.len() + 1 + v.len());
                e.extend_from_slice(name);
                e.push(b'=');
                e.extend_from_slice(v);
                env.push(e);
            }
        }
    }
}

fn entry_name(e: &[u8]) -> &[u8] {
    match e.iter().position(|&b| b == b'=') {
        Some(i) => &e[..i],
        None => e,
    }
}

/// The current environment as `NAME=VALUE` entries.
pub fn current_env() -> Vec<Vec<u8>> {
    std::env::vars_os()
        .map(|(k, v)| {
            let mut e = k.into_vec();
            e.push(b'=');
            e.extend_from_slice(v.as_bytes());
            e
        })
        .collect()
}

/// An exec prepared in full, so that it can run in a forked child without
/// allocating.
pub struct Prepared {
    candidates: Vec<CString>,
    argv: Vec<CString>,
    env: Vec<CString>,
}

fn cstring(b: &[u8]) -> CString {
    // A command-line argument or environment entry cannot contain NUL; a
    // path made from them cannot either, except through our own joins.
    CString::new(b.to_vec()).unwrap_or_default()
}

/// The list of paths `pathexec` tries for `name`, given `$PATH`.
pub fn candidates(name: &[u8], path: Option<&[u8]>) -> Vec<Vec<u8>> {
    if name.contains(&b'/') {
        return vec![name.to_vec()];
    }
    let path = path.unwrap_or(DEFAULT_PATH);
    path.split(|&b| b == b':')
        .map(|dir| {
            let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
            let mut p = Vec::with_capacity(dir.len() + 1 + name.len());
            p.extend_from_slice(dir);
            p.push(b'/');
            p.extend_from_slice(name);
            p
        })
        .collect()
}

impl Prepared {
    /// Prepares running `argv` (argv[0] is the program name) with the current
    /// environment edited by `edit`.
    pub fn new(argv: &[OsString], edit: Option<&EnvEdit>) -> Self {
        let mut env = current_env();
        if let Some(edit) = edit {
            edit.apply(&mut env);
        }
        // The search uses the PATH of the environment we run in (after edits).
        let path = env
            .iter()
            .find(|e| entry_name(e) == b"PATH")
            .map(|e| e[5..].to_vec());
        let name = argv.first().map(|a| a.as_bytes()).unwrap_or(b"");
        Prepared {
            candidates: candidates(name, path.as_deref())
                .iter()
                .map(|c| cstring(c))
                .collect(),
            argv: argv.iter().map(|a| cstring(a.as_bytes())).collect(),
            env: env.iter().map(|e| cstring(e)).collect(),
        }
    }

    /// Prepares running `name` (searched in PATH) with the given argv, whose
    /// first element need not be `name` (argv0).
    pub fn with_path(name: &OsStr, argv: &[OsString], edit: Option<&EnvEdit>) -> Self {
        let mut p = Prepared::new(argv, edit);
        let path = p
            .env
            .iter()
            .find_map(|e| e.to_bytes().strip_prefix(b"PATH=").map(<[u8]>::to_vec));
        p.candidates = candidates(name.as_bytes(), path.as_deref())
            .iter()
            .map(|c| cstring(c))
            .collect();
        p
    }

    /// Replaces argument `i` (after argv[0], which names the program):
    /// one preparation serves many starts that differ in an argument
    /// (svscan's `supervise NAME`).
    pub fn set_arg(&mut self, i: usize, arg: &OsStr) {
        if i > 0 && i < self.argv.len() {
            self.argv[i] = cstring(arg.as_bytes());
        }
    }

    /// The paths to try, in order.
    pub fn candidates(&self) -> &[CString] {
        &self.candidates
    }

    pub fn argv(&self) -> &[CString] {
        &self.argv
    }

    pub fn env(&self) -> &[CString] {
        &self.env
    }

    /// Tries each candidate; returns the error to report if none could run.
    /// `rt::Spawner::spawn` makes the same choice with posix_spawn.
    pub fn exec(&self) -> Errno {
        let mut remembered = None;
        for c in &self.candidates {
            let Err(e) = nix::unistd::execve(c, &self.argv, &self.env);
            match e {
                Errno::ENOENT => {}
                Errno::EACCES | Errno::EPERM | Errno::EISDIR => remembered = Some(e),
                e => return e,
            }
        }
        remembered.unwrap_or(Errno::ENOENT)
    }
}

/// Runs `argv` in place of this process, with SIGPIPE back at its default
/// (the Rust runtime ignores it, and that would survive the exec). Returns
/// only on failure, with the error to report.
pub fn pathexec(argv: &[OsString], edit: Option<&EnvEdit>) -> Errno {
    let p = Prepared::new(argv, edit);
    sys::default_signal(Signal::SIGPIPE);
    p.exec()
}

/// [`pathexec`], or `PROG: fatal: unable to run NAME: ERRSTR` and exit 111.
pub fn exec_or_die(argv: &[OsString], edit: Option<&EnvEdit>) -> ! {
    let e = pathexec(argv, edit);
    let name = argv.first().map(|a| a.as_os_str()).unwrap_or_default();
    crate::diag::fatal_sys(&[&"unable to run ", &name], e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_list() {
        assert_eq!(candidates(b"./run", Some(b"/x")), vec![b"./run".to_vec()]);
        assert_eq!(
            candidates(b"ls", None),
            vec![b"/bin/ls".to_vec(), b"/usr/bin/ls".to_vec()]
        );
        assert_eq!(
            candidates(b"ls", Some(b":/a:")),
            vec![b"./ls".to_vec(), b"/a/ls".to_vec(), b"./ls".to_vec()]
        );
    }

    #[test]
    fn env_edits() {
        let mut env: Vec<Vec<u8>> = vec![b"A=1".to_vec(), b"B=2".to_vec(), b"C=3".to_vec()];
        let mut e = EnvEdit::new();
        e.unset("A");
        e.set("B", "x");
        e.set("D", "");
        e.unset("NOPE");
        e.set("C=D", "v");
        e.apply(&mut env);
        let mut got: Vec<String> = env
            .iter()
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .collect();
        got.sort();
        assert_eq!(got, vec!["B=x", "C=D=v", "D="]);
    }
}

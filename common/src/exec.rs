//! `pathexec`: running the program named on a command line
//! (spec/common.md §4 and §5).
//!
//! A name with a `/` is exec'd as is; otherwise each element of `$PATH`
//! (`/bin:/usr/bin` when unset; an empty element is `.`) is tried in order.
//! ENOENT moves on silently; EACCES, EPERM and EISDIR are remembered and the
//! search moves on; any other error stops it. No shell fallback on ENOEXEC.
//! argv is passed unchanged (`argv[0]` is the name as given). `$PATH` is the
//! one this process was given, not the one its edits make for the program:
//! the original looks it up in its own environment (`env/PATH` in an
//! envdir, or a `PATH` set by a tcpserver rule, is the program's alone).

use std::ffi::{CStr, CString, OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use nix::errno::Errno;
use nix::sys::signal::Signal;

use crate::sys;

/// Default search path when `$PATH` is unset.
pub const DEFAULT_PATH: &[u8] = b"/bin:/usr/bin";

/// Queued environment changes, applied in order just before exec.
///
/// The names and values are kept back to back in one buffer, not one
/// allocation each: tcpserver's parent makes one of these per connection
/// and then forks, and every heap page it writes after a fork (a free
/// writes into the freed block) costs it a copy-on-write fault.
#[derive(Debug, Default, Clone)]
pub struct EnvEdit {
    /// Every change's name, then its value if it sets one.
    text: Vec<u8>,
    changes: Vec<Change>,
}

/// One change: its name is `text[start..name_end]`, its value (a set)
/// `text[name_end..value_end]`.
#[derive(Debug, Clone, Copy)]
struct Change {
    start: usize,
    name_end: usize,
    value_end: Option<usize>,
}

impl EnvEdit {
    pub fn new() -> Self {
        Self::default()
    }

    /// Room for about `n` changes of usual length, taken at once.
    pub fn with_capacity(n: usize) -> Self {
        EnvEdit {
            text: Vec::with_capacity(n * 24),
            changes: Vec::with_capacity(n),
        }
    }

    /// Forgets every change, keeping the room taken (a server's loop
    /// fills one edit per connection).
    pub fn clear(&mut self) {
        self.text.clear();
        self.changes.clear();
    }

    /// Queues "set NAME to VALUE".
    pub fn set(&mut self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) {
        self.set_parts(&[name.as_ref().as_bytes()], value.as_ref().as_bytes());
    }

    /// Queues "set NAME to VALUE", the name given in parts (a prefix and
    /// the rest) so that it need not be put together first.
    pub fn set_parts(&mut self, name: &[&[u8]], value: &[u8]) {
        let start = self.text.len();
        name.iter().for_each(|p| self.text.extend_from_slice(p));
        let name_end = self.text.len();
        self.text.extend_from_slice(value);
        self.changes.push(Change {
            start,
            name_end,
            value_end: Some(self.text.len()),
        });
    }

    /// Queues "remove NAME".
    pub fn unset(&mut self, name: impl AsRef<OsStr>) {
        self.unset_parts(&[name.as_ref().as_bytes()]);
    }

    /// Queues "remove NAME", the name given in parts.
    pub fn unset_parts(&mut self, name: &[&[u8]]) {
        let start = self.text.len();
        name.iter().for_each(|p| self.text.extend_from_slice(p));
        self.changes.push(Change {
            start,
            name_end: self.text.len(),
            value_end: None,
        });
    }

    /// Change `i`: its name as given (it may contain `=`) and its value,
    /// `None` for a removal.
    fn change(&self, i: usize) -> (&[u8], Option<&[u8]>) {
        let c = self.changes[i];
        (
            &self.text[c.start..c.name_end],
            c.value_end.map(|end| &self.text[c.name_end..end]),
        )
    }

    /// The changes in order: name as given, and value (`None`: removal).
    fn iter(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
        (0..self.changes.len()).map(|i| self.change(i))
    }

    /// The names changed, in order (with repetitions).
    pub fn names(&self) -> impl Iterator<Item = &[u8]> {
        self.iter().map(|(n, _)| entry_name(n))
    }

    /// Applies the changes to `env` (entries `NAME=VALUE`), as the original:
    /// each change deletes the first entry of that name (the last entry takes
    /// its slot), then a "set" appends `NAME=VALUE`. A NAME containing `=`
    /// is split at its first `=`; the original keeps a removal as the bare
    /// NAME, so a removal of `A=B` (an empty envdir file of that name)
    /// deletes `A` and then adds the entry `A=B`.
    pub fn apply(&self, env: &mut Vec<Vec<u8>>) {
        for (name, value) in self.iter() {
            let key = entry_name(name);
            if let Some(i) = env.iter().position(|e| entry_name(e) == key) {
                env.swap_remove(i);
            }
            if adds_entry(name, value) {
                let mut e = Vec::with_capacity(name.len() + 1 + value.map_or(0, <[u8]>::len));
                write_entry(&mut e, name, value);
                env.push(e);
            }
        }
    }
}

/// Whether a change adds an entry: a set does; a removal does not, unless
/// NAME has a `=` in it (the original keeps a removal as the bare NAME,
/// which then reads as an entry).
fn adds_entry(name: &[u8], value: Option<&[u8]>) -> bool {
    value.is_some() || name.contains(&b'=')
}

/// Writes the entry a change adds ([`adds_entry`]): `NAME=VALUE`, or NAME
/// alone for such a removal.
fn write_entry(out: &mut Vec<u8>, name: &[u8], value: Option<&[u8]>) {
    out.extend_from_slice(name);
    if let Some(v) = value {
        out.push(b'=');
        out.extend_from_slice(v);
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

/// A process's environment kept for many starts, each with edits of its
/// own, without a copy of it for each start (tcpserver's parent starting a
/// program per connection): [`Environ::with_edited`] gives what
/// [`EnvEdit::apply`] would, as the `CStr`s [`Prepared::exec_with_env`]
/// and the spawner take.
pub struct Environ {
    base: Vec<CString>,
    /// The length of each base entry's name (up to its first `=`), found
    /// once: each start compares every change with every entry.
    base_names: Vec<usize>,
    /// The entries of one start, in order: the slots reused.
    slots: Vec<Slot>,
    /// Where the new entries of one start are written (`NAME=VALUE\0`).
    block: Vec<u8>,
    /// Where each new entry begins in `block`.
    starts: Vec<usize>,
    /// The room of the last start's list of entries, kept empty for the
    /// next ([`Environ::with_edited`]).
    list: Vec<&'static CStr>,
}

/// An entry of an edited environment: one of the base, or change `i`.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Base(usize),
    New(usize),
}

impl Environ {
    /// This process's environment, now.
    pub fn current() -> Environ {
        Environ::new(&current_env())
    }

    /// An environment of `NAME=VALUE` entries.
    pub fn new(entries: &[Vec<u8>]) -> Environ {
        let base: Vec<CString> = entries.iter().map(|e| cstring(e)).collect();
        Environ {
            base_names: base
                .iter()
                .map(|e| entry_name(e.as_bytes()).len())
                .collect(),
            slots: Vec::with_capacity(base.len() + 64),
            block: Vec::with_capacity(1024),
            starts: Vec::with_capacity(64),
            list: Vec::with_capacity(base.len() + 64),
            base,
        }
    }

    /// Calls `f` with the environment `edit` makes of this one, entry for
    /// entry and in the order [`EnvEdit::apply`] gives. The list is made in
    /// the room of the last call's: tcpserver makes one per connection
    /// (its parent, before a posix_spawn, or a forked child), and an
    /// allocation and its free would write two more heap pages each time.
    pub fn with_edited<R>(&mut self, edit: &EnvEdit, f: impl FnOnce(&[&CStr]) -> R) -> R {
        let list = recycle(std::mem::take(&mut self.list));
        let list = self.fill(edit, list);
        let r = f(&list);
        self.list = recycle(list);
        r
    }

    /// The edited list, into `list` (empty).
    fn fill<'a>(&'a mut self, edit: &EnvEdit, mut list: Vec<&'a CStr>) -> Vec<&'a CStr> {
        self.slots.clear();
        self.slots.extend((0..self.base.len()).map(Slot::Base));
        for (i, (given, value)) in edit.iter().enumerate() {
            let name = entry_name(given);
            let (base, names) = (&self.base, &self.base_names);
            let found = self.slots.iter().position(|s| match *s {
                Slot::Base(b) => names[b] == name.len() && base[b].as_bytes().starts_with(name),
                Slot::New(c) => entry_name(edit.change(c).0) == name,
            });
            if let Some(at) = found {
                self.slots.swap_remove(at);
            }
            if adds_entry(given, value) {
                self.slots.push(Slot::New(i));
            }
        }
        // The new entries, then the list (the block no longer moves).
        self.block.clear();
        let starts = &mut self.starts;
        starts.clear();
        for s in &self.slots {
            if let Slot::New(c) = *s {
                let (name, value) = edit.change(c);
                starts.push(self.block.len());
                // As `cstring`: an entry with a NUL in it is empty.
                if !name.contains(&0) && !value.is_some_and(|v| v.contains(&0)) {
                    write_entry(&mut self.block, name, value);
                }
                self.block.push(0);
            }
        }
        let mut starts = self.starts.iter().copied();
        let (base, block) = (&self.base, &self.block);
        list.extend(self.slots.iter().map(|s| match *s {
            Slot::Base(b) => base[b].as_c_str(),
            Slot::New(_) => {
                let at = starts.next().unwrap_or(0);
                CStr::from_bytes_until_nul(&block[at..]).unwrap_or_default()
            }
        }));
        list
    }
}

/// An empty list in the room of `list`, for references of another
/// lifetime: the standard library collects a vector's own iterator in
/// place when the element layout is the same (otherwise this allocates,
/// which is only slower).
// (`filter` cannot change the lifetime, which is the point.)
#[allow(clippy::unnecessary_filter_map)]
fn recycle<'b>(mut list: Vec<&CStr>) -> Vec<&'b CStr> {
    list.clear();
    list.into_iter().filter_map(|_| None).collect()
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

/// `$PATH` as this process was given it (the search path, whatever the
/// program's environment will say).
fn inherited_path() -> Option<Vec<u8>> {
    std::env::var_os("PATH").map(OsString::into_vec)
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
    /// Prepares running `argv` (`argv[0]` is the program name) with the current
    /// environment edited by `edit`.
    pub fn new(argv: &[OsString], edit: Option<&EnvEdit>) -> Self {
        let mut env = current_env();
        if let Some(edit) = edit {
            edit.apply(&mut env);
        }
        let name = argv.first().map(|a| a.as_bytes()).unwrap_or(b"");
        Prepared {
            candidates: candidates(name, inherited_path().as_deref())
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
        p.candidates = candidates(name.as_bytes(), inherited_path().as_deref())
            .iter()
            .map(|c| cstring(c))
            .collect();
        p
    }

    /// Replaces argument `i` (after `argv[0]`, which names the program):
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
        self.exec_with_env(&self.env)
    }

    /// [`Prepared::exec`] with `env` instead of the prepared environment.
    pub fn exec_with_env<E: AsRef<CStr>>(&self, env: &[E]) -> Errno {
        let mut remembered = None;
        for c in &self.candidates {
            let Err(e) = nix::unistd::execve(c, &self.argv, env);
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

/// [`exec_or_die`] for a chain-loader, which passes its standard
/// descriptors on untouched: one that was closed at start is closed again
/// first ([`sys::reclose_standard_descriptors`]), so that the program sees
/// what it would see under the original.
pub fn chain(argv: &[OsString], edit: Option<&EnvEdit>) -> ! {
    sys::reclose_standard_descriptors();
    exec_or_die(argv, edit)
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
    fn environ_edits_as_apply_does() {
        let base: Vec<Vec<u8>> = ["A=1", "B=2", "C=3", "D=4", "E=5"]
            .iter()
            .map(|e| e.as_bytes().to_vec())
            .collect();
        let mut environ = Environ::new(&base);
        let mut e = EnvEdit::new();
        e.unset("A");
        e.set("B", "x");
        e.set("F", "");
        e.unset("NOPE");
        e.set("C=D", "v");
        e.unset("D=x");
        e.set("F", "again");
        e.set("NUL", OsStr::from_bytes(b"a\0b"));
        let mut want = base.clone();
        e.apply(&mut want);
        let want: Vec<CString> = want.iter().map(|w| cstring(w)).collect();
        let owned = |l: &[&CStr]| l.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>();
        assert_eq!(environ.with_edited(&e, owned), want);
        // Reused: a second start sees only its own edits.
        let none = EnvEdit::new();
        assert_eq!(environ.with_edited(&none, owned).len(), base.len());
        assert_eq!(environ.with_edited(&e, owned), want);
        // One edit cleared and filled again.
        e.clear();
        e.set("G", "7");
        let mut want = base.clone();
        want.push(b"G=7".to_vec());
        let want: Vec<CString> = want.iter().map(|w| cstring(w)).collect();
        assert_eq!(environ.with_edited(&e, owned), want);
        assert_eq!(environ.with_edited(&none, owned), want[..base.len()]);
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
        // A removal of a name with `=`: the original adds the name itself.
        e.unset("E=F");
        e.apply(&mut env);
        let mut got: Vec<String> = env
            .iter()
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .collect();
        got.sort();
        assert_eq!(got, vec!["B=x", "C=D=v", "D=", "E=F"]);
    }
}

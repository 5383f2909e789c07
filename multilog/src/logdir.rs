//! A multilog log directory (spec/multilog.md, "Log directory format").
//!
//! Owns `DIR/{lock,current,previous,processed,state,newstate}` and the
//! `@<tai64n>.s` / `.u` files. Every failure of a step that can be tried
//! again warns with a `..., pausing` line, waits [`PAUSE`] on a deadline
//! (never a sleep: TERM and ALRM end the wait) and retries the same step:
//! nothing is dropped and nothing is written twice. At start-up, before
//! any input is read, such a step is given up on once TERM has come (a
//! fatal line, exit 111): the next start's recovery does it again, and a
//! log service whose directory cannot be recovered can still be stopped.
//! Every file is reached through the directory's descriptor, opened once
//! at start, as the original works in it after an fchdir: a directory
//! renamed while multilog runs (`mv main main.old`, or a parent of an
//! absolute path) goes on rotating where it now is. Messages name files
//! `DIR/NAME`, DIR as given.
//!
//! Beyond the original: a `current` removed while multilog runs (`rm
//! current`, or `rm -rf` of the whole directory) is noticed before the
//! next write, and a `current` moved away at the next rotation. The
//! original wrote on into the removed file, then paused for ever at the
//! rotation (`unable to rename current to previous`), no longer reading
//! its input, so that the service writing to it blocked. Here a new
//! `current` is started, and a removed directory is made again at its
//! path as a fresh start of multilog would, with a warning.

use std::ffi::{CStr, OsStr, OsString};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use common::diag::{self, errno_of};
use common::exec::Prepared;
use common::rt::{Ended, FdAction, Reaper, Runtime, Spawner};
use common::tai::Tai64n;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, Flock, FlockArg, OFlag};
use nix::sys::signal::Signal;
use nix::sys::stat::{FchmodatFlags, FileStat, Mode, SFlag};
use nix::unistd::UnlinkatFlags;

use crate::script::DirSpec;

/// How long multilog waits before retrying a failed step (the original
/// sleeps 5 seconds).
pub const PAUSE: Duration = Duration::from_secs(5);

/// Within this many bytes of the size limit, writes end at a line boundary
/// and the file is rotated after the line.
pub const TAIL: u64 = 2000;

/// The C multilog's output buffer size, which sets where files end.
const C_BLOCK: usize = 512;

/// Bytes decided for `current` are written out once this many wait, even
/// within one block of input.
const PENDING_MAX: usize = 1 << 20;

/// `current` of a cleanly closed directory, and finished files.
const MODE_FINISHED: u32 = 0o744;
/// `current` while multilog runs.
const MODE_ACTIVE: u32 = 0o644;

/// Warns `multilog: warning: PARTS, pausing[: ERRSTR]` and waits
/// [`PAUSE`] on a deadline, not in a sleep: a TERM or ALRM that arrives
/// meanwhile ends the wait at once (the step is retried now; the main loop
/// acts on the signal once it succeeds).
pub fn pause(rt: &mut Runtime, parts: &[&dyn diag::Part], e: Option<Errno>) {
    let mut v: Vec<&dyn diag::Part> = parts.to_vec();
    v.push(&", pausing");
    match e {
        Some(e) => diag::warn_sys(&v, e),
        None => diag::warn(&v),
    }
    let until = Instant::now() + PAUSE;
    while Instant::now() < until {
        let w = rt.wait(&[], Some(until));
        if w.signal && (rt.pending(Signal::SIGTERM) || rt.pending(Signal::SIGALRM)) {
            return;
        }
    }
}

/// Repeats `f`, a step in the directory `dir`, until it succeeds,
/// pausing after each failure; `None` once the directory has been
/// removed, where no step can succeed.
fn retry<T>(
    rt: &mut Runtime,
    dir: BorrowedFd,
    parts: &[&dyn diag::Part],
    mut f: impl FnMut() -> Result<T, Errno>,
) -> Option<T> {
    loop {
        match f() {
            Ok(v) => return Some(v),
            Err(_) if unlinked(dir) => return None,
            Err(e) => pause(rt, parts, Some(e)),
        }
    }
}

fn io<T>(r: std::io::Result<T>) -> Result<T, Errno> {
    r.map_err(|e| errno_of(&e))
}

/// NAME in the directory `dir`, opened with `flags`, close-on-exec.
fn open_at(dir: BorrowedFd, name: &str, flags: OFlag, mode: u32) -> Result<File, Errno> {
    nix::fcntl::openat(
        dir,
        name,
        flags | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(mode),
    )
    .map(File::from)
}

/// open_append: `O_WRONLY|O_APPEND|O_CREAT|O_NONBLOCK`, mode 0600 before
/// umask (a FIFO in place of `current` fails with ENXIO, never hangs).
fn open_append(dir: BorrowedFd, name: &str) -> Result<File, Errno> {
    let flags = OFlag::O_WRONLY | OFlag::O_APPEND | OFlag::O_CREAT;
    open_at(dir, name, flags, 0o600)
}

/// open_trunc: `O_WRONLY|O_NONBLOCK|O_TRUNC|O_CREAT`, mode 0644 before
/// umask (a FIFO there fails instead of blocking).
fn open_trunc(dir: BorrowedFd, name: &str) -> Result<File, Errno> {
    let flags = OFlag::O_WRONLY | OFlag::O_TRUNC | OFlag::O_CREAT;
    open_at(dir, name, flags, 0o644)
}

/// open_read: `O_RDONLY|O_NONBLOCK`.
fn open_read(dir: BorrowedFd, name: &str) -> Result<File, Errno> {
    open_at(dir, name, OFlag::O_RDONLY, 0)
}

/// NAME's status in `dir` (following a symlink, as stat does).
fn stat_at(dir: BorrowedFd, name: &(impl nix::NixPath + ?Sized)) -> Result<FileStat, Errno> {
    nix::sys::stat::fstatat(dir, name, AtFlags::empty())
}

fn unlink_at(dir: BorrowedFd, name: &(impl nix::NixPath + ?Sized)) -> Result<(), Errno> {
    nix::unistd::unlinkat(dir, name, UnlinkatFlags::NoRemoveDir)
}

fn rename_at(dir: BorrowedFd, from: &str, to: &str) -> Result<(), Errno> {
    nix::fcntl::renameat(dir, from, dir, to)
}

fn set_mode(f: &File, mode: u32) -> Result<(), Errno> {
    nix::sys::stat::fchmod(f, Mode::from_bits_truncate(mode))
}

/// Why a directory could not be started: `WHAT PATH: ERRSTR`.
struct Failure(&'static str, PathBuf, Errno);

fn failure(what: &'static str, path: PathBuf) -> impl FnOnce(Errno) -> Failure {
    move |e| Failure(what, path, e)
}

/// One log directory in use.
pub struct LogDir {
    spec: DirSpec,
    /// The directory, wherever it is now.
    dir: OwnedFd,
    /// Held for life: another multilog on the same directory is refused.
    _lock: Flock<File>,
    current: File,
    /// Size of `current`, `pending` included.
    bytes: u64,
    /// The original's 512-byte output buffer, as a model: what it holds
    /// decides the blocks the size rule sees, so where files end.
    block: Vec<u8>,
    /// Bytes given to `current` by the size rule and not yet written
    /// (written before every read and every rotation).
    pending: Vec<u8>,
    /// Given up on after TERM: a failing processor (the directory is left
    /// for the crash recovery of the next start), or a removed directory
    /// that could not be made again (nothing more goes there).
    abandoned: bool,
    /// When the first byte of `current` was written (`R`), on the
    /// monotonic clock: a step of the wall clock (NTP, a manual change)
    /// neither rotates early nor delays. For a non-empty `current` found
    /// at start, the file's age by the wall clock, once ([`started_at`]).
    first_at: Option<Instant>,
}

impl LogDir {
    /// `DIR/NAME`, as a path and in messages.
    fn at(&self, name: &str) -> PathBuf {
        join(&self.spec.path, name)
    }

    /// Opens (and if needed recovers) a directory at start-up; errors are
    /// fatal (exit 111). A step of the recovery that fails is paused on and
    /// tried again, until TERM comes: then its failure is fatal too.
    pub fn open(spec: DirSpec, rt: &mut Runtime) -> LogDir {
        LogDir::start(spec, rt)
            .unwrap_or_else(|Failure(what, path, e)| diag::fatal_sys(&[&what, &path], e))
    }

    /// The start of a directory: made if missing, locked, recovered.
    fn start(spec: DirSpec, rt: &mut Runtime) -> Result<LogDir, Failure> {
        let d = spec.path.clone();
        let _ = nix::unistd::mkdir(d.as_os_str(), Mode::from_bits_truncate(0o700));
        let dir = nix::fcntl::open(
            d.as_os_str(),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Failure("unable to open directory ", d.clone().into(), e))?;
        let fd = dir.as_fd();
        let lock = open_append(fd, "lock")
            .and_then(|f| Flock::lock(f, FlockArg::LockExclusiveNonblock).map_err(|(_, e)| e))
            .map_err(|e| Failure("unable to lock directory ", d.clone().into(), e))?;
        let clean = match stat_at(fd, "current") {
            Ok(m) => m.st_mode & 0o100 != 0,
            Err(Errno::ENOENT) => false,
            Err(e) => return Err(failure("unable to stat ", join(&d, "current"))(e)),
        };
        if clean {
            let current = open_append(fd, "current")
                .map_err(failure("unable to append to ", join(&d, "current")))?;
            set_mode(&current, MODE_ACTIVE)
                .map_err(failure("unable to set mode of ", join(&d, "current")))?;
            let meta = current.metadata().ok();
            let bytes = meta.as_ref().map_or(0, |m| m.len());
            let first_at = meta.filter(|_| bytes > 0).map(|m| started_at(&m));
            return Ok(LogDir {
                spec,
                dir,
                _lock: lock,
                current,
                bytes,
                block: Vec::with_capacity(C_BLOCK),
                pending: Vec::new(),
                abandoned: false,
                first_at,
            });
        }
        // Crash recovery: current has no execute bit (or is missing).
        let _ = unlink_at(fd, "state");
        let _ = unlink_at(fd, "newstate");
        let processor_done = match stat_at(fd, "processed") {
            Ok(m) => m.st_mode & 0o100 != 0,
            Err(Errno::ENOENT) => false,
            Err(e) => return Err(failure("unable to stat ", join(&d, "processed"))(e)),
        };
        // Each given up on once TERM has come: at start-up nothing is read
        // yet (for a directory made again, see `start_again`).
        let (num, cap) = (spec.num, spec.cap);
        let recover =
            |rt: &mut Runtime, file, code| finish(rt, fd, &d, num, cap, file, code, OnTerm::GiveUp);
        if processor_done {
            let _ = unlink_at(fd, "previous");
            recover(rt, "processed", b's')?;
        } else {
            let _ = unlink_at(fd, "processed");
            recover(rt, "previous", b'u')?;
        }
        // Divergence: an empty current is removed, not kept as an empty .u.
        // Only a file: anything else there (a FIFO, say) becomes a .u as
        // the original makes it, and a new current takes its place.
        let is_empty_file = |m: FileStat| {
            SFlag::from_bits_truncate(m.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFREG
                && m.st_size == 0
        };
        if nix::sys::stat::fstatat(fd, "current", AtFlags::AT_SYMLINK_NOFOLLOW)
            .is_ok_and(is_empty_file)
        {
            let _ = unlink_at(fd, "current");
        }
        recover(rt, "current", b'u')?;
        open_trunc(fd, "state").map_err(failure("unable to write to ", join(&d, "state")))?;
        let current = open_append(fd, "current")
            .map_err(failure("unable to write to ", join(&d, "current")))?;
        set_mode(&current, MODE_ACTIVE)
            .map_err(failure("unable to set mode of ", join(&d, "current")))?;
        Ok(LogDir {
            spec,
            dir,
            _lock: lock,
            current,
            bytes: 0,
            block: Vec::with_capacity(C_BLOCK),
            pending: Vec::new(),
            abandoned: false,
            first_at: None,
        })
    }

    /// Before a write: if `current` was removed (its link count is 0),
    /// starts a new one, and makes the directory again first if it was
    /// removed too (as a fresh start of multilog would, pausing while
    /// that fails). What was decided for `current` and not yet written goes
    /// to the new one. Returns whether it was removed.
    fn check(&mut self, rt: &mut Runtime) -> bool {
        if !self.current_unlinked() {
            return false;
        }
        if unlinked(self.dir.as_fd()) {
            self.start_again(rt);
        } else {
            self.new_current(rt);
        }
        true
    }

    /// The directory was removed: it is started again at its path, as a
    /// fresh start of multilog would (pausing while that fails), and what
    /// was not yet written goes to its new current. Once TERM has come, a
    /// failure gives up: nothing more is written there, and multilog can
    /// exit.
    fn start_again(&mut self, rt: &mut Runtime) {
        diag::warn(&[&self.spec.path, &" was removed, making it again"]);
        let fresh = loop {
            match LogDir::start(self.spec.clone(), rt) {
                Ok(d) => break d,
                Err(Failure(what, path, e)) => {
                    if rt.pending(Signal::SIGTERM) {
                        diag::warn_sys(&[&what, &path, &", leaving it"], e);
                        self.abandoned = true;
                        return;
                    }
                    pause(rt, &[&what, &path], Some(e));
                }
            }
        };
        let pending = std::mem::take(&mut self.pending);
        let block = std::mem::take(&mut self.block);
        *self = fresh;
        self.block = block;
        self.taken_again(pending);
    }

    /// Whether `current` was removed (and this directory still in use).
    fn current_unlinked(&self) -> bool {
        !self.abandoned && unlinked(self.current.as_fd())
    }

    /// Whether `current` is still the file at `DIR/current` (not moved
    /// away or removed); when that cannot be told, it is taken to be.
    fn current_in_place(&self) -> bool {
        let ours = nix::sys::stat::fstat(self.current.as_fd());
        let there =
            nix::sys::stat::fstatat(self.dir.as_fd(), "current", AtFlags::AT_SYMLINK_NOFOLLOW);
        match (ours, there) {
            (Ok(a), Ok(b)) => (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino),
            (Ok(_), Err(Errno::ENOENT)) => false,
            _ => true,
        }
    }

    /// `current` was moved or removed: a new one takes its place, with
    /// what was not yet written to the old.
    fn new_current(&mut self, rt: &mut Runtime) {
        let cur = self.at("current");
        diag::warn(&[&cur, &" was moved or removed, starting a new one"]);
        let Some(current) = self.open_current(rt) else {
            return self.start_again(rt);
        };
        self.current = current;
        let pending = std::mem::take(&mut self.pending);
        self.taken_again(pending);
    }

    /// A new `current`, mode 644 while written; `None` if the directory
    /// was removed.
    fn open_current(&self, rt: &mut Runtime) -> Option<File> {
        let cur = self.at("current");
        let fd = self.dir.as_fd();
        let current = retry(rt, fd, &[&"unable to create ", &cur], || {
            open_append(fd, "current")
        })?;
        retry(rt, fd, &[&"unable to set mode of ", &cur], || {
            set_mode(&current, MODE_ACTIVE)
        })?;
        Some(current)
    }

    /// A new `current` (empty, or found there) is to hold `pending`
    /// too.
    fn taken_again(&mut self, pending: Vec<u8>) {
        let meta = self.current.metadata().ok();
        self.bytes = meta.as_ref().map_or(0, |m| m.len());
        self.first_at = meta.filter(|_| self.bytes > 0).map(|m| started_at(&m));
        self.take(&pending);
    }

    /// When `R` makes `current` due for rotation, if it does: the
    /// deadline for the wait.
    pub fn rotation_due(&self) -> Option<Instant> {
        if self.spec.rotate_secs == 0 || self.bytes == 0 || self.abandoned {
            return None;
        }
        let at = self.first_at?;
        // Past anything an Instant can hold: never.
        at.checked_add(Duration::from_secs(self.spec.rotate_secs))
    }

    /// Whether `R` wants `current` rotated now.
    pub fn rotation_is_due(&self) -> bool {
        self.rotation_due().is_some_and(|t| t <= Instant::now())
    }

    /// Whether `current` holds anything (ALRM rotates only non-empty ones).
    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// Appends `data` as the original's buffered write of one piece does:
    /// a piece that does not fit in the 512-byte buffer flushes it, and
    /// one larger than the buffer then goes to the size rule whole.
    /// Multilog's pieces (a line's visible part, its newline) are at most
    /// 1000 bytes, below the original's 8192-byte direct-write chunk.
    pub fn put(&mut self, data: &[u8], rt: &mut Runtime) {
        if data.len() > C_BLOCK - self.block.len() {
            self.flush_block(rt);
            if data.len() > C_BLOCK {
                self.offer_all(data, rt);
                return;
            }
        }
        self.block.extend_from_slice(data);
    }

    /// Appends `data` as that many one-byte pieces (how the original
    /// copies the part of a long line past its first 1000 bytes): the
    /// buffer is flushed each time it is full and one more byte comes.
    pub fn put_bytes(&mut self, mut data: &[u8], rt: &mut Runtime) {
        while !data.is_empty() {
            let room = C_BLOCK - self.block.len();
            if room == 0 {
                self.flush_block(rt);
                continue;
            }
            let take = room.min(data.len());
            self.block.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
    }

    /// Passes the buffer to the size rule, as the original flushes it
    /// before each of its 1024-byte reads.
    pub fn flush_block(&mut self, rt: &mut Runtime) {
        let block = std::mem::take(&mut self.block);
        self.offer_all(&block, rt);
        self.block = block;
        self.block.clear();
    }

    fn offer_all(&mut self, data: &[u8], rt: &mut Runtime) {
        let mut off = 0;
        while off < data.len() {
            off += self.offer(&data[off..], rt);
        }
    }

    /// The size rule for one offered block: takes the part of `data` that
    /// goes to `current` now (rotating when `current` is full, ending the
    /// file at a line end within the last 2000 bytes of the size) and
    /// returns its length; the caller offers the rest again.
    fn offer(&mut self, data: &[u8], rt: &mut Runtime) -> usize {
        // After a processor was given up on, `previous` must survive until
        // the next start: no more rotations, current grows past the size.
        let size = self.spec.size;
        let tail = size - TAIL;
        let len = if self.abandoned {
            data.len()
        } else {
            if self.bytes >= size {
                self.rotate(rt);
            }
            let len = data.len().min((size - self.bytes) as usize);
            if self.bytes + len as u64 >= tail {
                // End the file at the block's last line end, if it has one.
                data[..len]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(len, |q| q + 1)
            } else {
                len
            }
        };
        self.take(&data[..len]);
        if self.bytes >= tail && data[len - 1] == b'\n' && !self.abandoned {
            self.rotate(rt);
        } else if self.pending.len() >= PENDING_MAX {
            self.write_pending(rt);
        }
        len
    }

    fn take(&mut self, data: &[u8]) {
        if self.bytes == 0 && !data.is_empty() {
            self.first_at = Some(Instant::now());
        }
        self.pending.extend_from_slice(data);
        self.bytes += data.len() as u64;
    }

    /// Writes what the size rule gave `current`, pausing and retrying on
    /// any failure (a full disk waits here).
    fn write_pending(&mut self, rt: &mut Runtime) {
        let pending = std::mem::take(&mut self.pending);
        let mut off = 0;
        while off < pending.len() {
            let e = match self.current.write(&pending[off..]) {
                Ok(n) if n > 0 => {
                    off += n;
                    continue;
                }
                Ok(_) => Errno::EIO,
                Err(e) => errno_of(&e),
            };
            pause(rt, &[&"unable to write to ", &self.at("current")], Some(e));
            if self.current_unlinked() {
                // Removed meanwhile (to make room on a full disk, say):
                // the rest goes to a new current, and closing the old one
                // gives its space back.
                self.pending = pending[off..].to_vec();
                let _ = self.check(rt);
                return self.write_pending(rt);
            }
        }
        self.pending = pending;
        self.pending.clear();
    }

    /// Writes everything held: before every read and at exit. Only when
    /// there is something to write is `current` looked at (one fstat).
    pub fn flush(&mut self, rt: &mut Runtime) {
        if self.block.is_empty() && self.pending.is_empty() {
            return;
        }
        let _ = self.check(rt);
        self.flush_block(rt);
        self.write_pending(rt);
    }

    /// current becomes previous, then an old file (through the processor
    /// if there is one); a new empty current takes its place.
    pub fn rotate(&mut self, rt: &mut Runtime) {
        if self.check(rt) {
            // Removed: the new current holds only what was not written.
            return;
        }
        self.write_pending(rt);
        if self.abandoned {
            // `previous` is kept for the next start's recovery.
            return;
        }
        if !self.current_in_place() {
            // Moved away: what it holds is where it went.
            self.new_current(rt);
            return;
        }
        let cur = self.at("current");
        let prev = self.at("previous");
        let fd = self.dir.as_fd();
        let renamed = retry(rt, fd, &[&"unable to write ", &cur, &" to disk"], || {
            io(self.current.sync_all())
        })
        .and_then(|()| {
            let what = "unable to rename current to previous in directory ";
            retry(rt, fd, &[&what, &self.spec.path], || {
                rename_at(fd, "current", "previous")
            })
        });
        let Some(current) = renamed.and_then(|()| self.open_current(rt)) else {
            // Removed meanwhile: started again; this rotation is over.
            return self.start_again(rt);
        };
        self.current = current;
        self.bytes = 0;
        self.first_at = None;
        let fd = self.dir.as_fd();
        let finished = retry(rt, fd, &[&"unable to set mode of ", &prev], || {
            nix::sys::stat::fchmodat(
                fd,
                "previous",
                Mode::from_bits_truncate(MODE_FINISHED),
                FchmodatFlags::FollowSymlink,
            )
        });
        if finished.is_none() {
            return self.start_again(rt);
        }
        match self.spec.processor.clone() {
            None => {
                let (fd, path) = (self.dir.as_fd(), &self.spec.path);
                let (num, cap) = (self.spec.num, self.spec.cap);
                // (Never given up on: Ok whenever it returns.)
                let _ = finish(rt, fd, path, num, cap, "previous", b's', OnTerm::Retry);
            }
            Some(p) => self.process(&p, rt),
        }
    }

    /// Runs the processor on previous until it succeeds, then publishes its
    /// output as an old file and its new state as state. While it runs,
    /// TERM and ALRM are noted for the main loop. If it fails and TERM has
    /// come, it is not run again: previous is left for the crash recovery
    /// of the next start (which makes it an old `.u` file) and the
    /// directory is marked to be left that way at exit.
    fn process(&mut self, processor: &OsStr, rt: &mut Runtime) {
        let d = self.spec.path.clone();
        let argv = [
            OsString::from("sh"),
            OsString::from("-c"),
            processor.to_os_string(),
        ];
        let sh = Prepared::with_path(OsStr::new("/bin/sh"), &argv, None);
        let spawner = rt.spawner();
        loop {
            // Whether it ran and failed; a fork that failed is tried again
            // after its own pause, without the "processor failed" one (the
            // original's fork loop).
            let failed = match self.run_processor(rt, &spawner, &sh) {
                Ok(ended) => match ended.code() {
                    Some(0) => break,
                    Some(_) => true,
                    None => {
                        // Divergence: the original appends a stale errno here.
                        pause(rt, &[&"processor crashed in ", &d], None);
                        true
                    }
                },
                Err(e @ (Errno::EAGAIN | Errno::ENOMEM)) => {
                    pause(rt, &[&"unable to fork for processor in ", &d], Some(e));
                    false
                }
                Err(e) => {
                    // What the original's child says before it exits 111.
                    diag::write_line(&diag::line(
                        ": fatal: ",
                        &[&"unable to run ", &processor],
                        Some(e),
                    ));
                    true
                }
            };
            if unlinked(self.dir.as_fd()) {
                return self.start_again(rt);
            }
            if rt.pending(Signal::SIGTERM) {
                diag::warn(&[
                    &"processor failed in ",
                    &d,
                    &", leaving previous to the next start",
                ]);
                self.abandoned = true;
                return;
            }
            if failed {
                pause(rt, &[&"processor failed in ", &d], None);
            }
        }
        if self.publish(rt).is_none() {
            self.start_again(rt);
        }
    }

    /// After the processor: processed becomes an old file and newstate
    /// the state; `None` if the directory was removed meanwhile.
    fn publish(&self, rt: &mut Runtime) -> Option<()> {
        let d = &self.spec.path;
        let fd = self.dir.as_fd();
        let processed = self.at("processed");
        let f = retry(rt, fd, &[&"unable to create ", &processed], || {
            open_append(fd, "processed")
        })?;
        retry(
            rt,
            fd,
            &[&"unable to write ", &processed, &" to disk"],
            || io(f.sync_all()),
        )?;
        retry(rt, fd, &[&"unable to set mode of ", &processed], || {
            set_mode(&f, MODE_FINISHED)
        })?;
        drop(f);
        let newstate = self.at("newstate");
        let f = retry(rt, fd, &[&"unable to create ", &newstate], || {
            open_append(fd, "newstate")
        })?;
        retry(
            rt,
            fd,
            &[&"unable to write ", &newstate, &" to disk"],
            || io(f.sync_all()),
        )?;
        drop(f);
        let prev = self.at("previous");
        retry(rt, fd, &[&"unable to remove ", &prev], || {
            match unlink_at(fd, "previous") {
                Err(Errno::ENOENT) => Ok(()),
                r => r,
            }
        })?;
        let what = "unable to rename newstate to state in directory ";
        retry(rt, fd, &[&what, d], || rename_at(fd, "newstate", "state"))?;
        let (num, cap) = (self.spec.num, self.spec.cap);
        // (Never given up on: Ok whenever it returns.)
        let _ = finish(rt, fd, d, num, cap, "processed", b's', OnTerm::Retry);
        Some(())
    }

    /// Starts the processor with previous on fd 0, processed on 1, state on
    /// 4, newstate on 5, in DIR, and waits for it (on the runtime: signals
    /// are noted meanwhile).
    fn run_processor(
        &self,
        rt: &mut Runtime,
        spawner: &Spawner,
        sh: &Prepared,
    ) -> Result<Ended, Errno> {
        let fd = self.dir.as_fd();
        let (prev, processed, state, newstate) = (
            open_read(fd, "previous")?,
            open_trunc(fd, "processed")?,
            open_read(fd, "state")?,
            open_trunc(fd, "newstate")?,
        );
        let plan = [
            FdAction(prev.as_raw_fd(), 0),
            FdAction(processed.as_raw_fd(), 1),
            FdAction(state.as_raw_fd(), 4),
            FdAction(newstate.as_raw_fd(), 5),
        ];
        let pid = spawn_in(&self.dir, || spawner.spawn(sh, &plan, None))?;
        drop((prev, processed, state, newstate));
        let mut reaper = Reaper::new();
        reaper.adopt(pid, ());
        loop {
            while let Some((p, owner, ws)) = reaper.reap() {
                if p == pid && owner.is_some() {
                    return Ok(ws);
                }
            }
            rt.wait(&[], None);
        }
    }

    /// At exit: flush, fsync, and mark current cleanly closed (mode 0744),
    /// unless a processor was given up on (then current stays as it is, for
    /// the crash recovery of the next start).
    pub fn close(&mut self, rt: &mut Runtime) {
        self.flush(rt);
        // A directory removed since the flush took what it held with it.
        let fd = self.dir.as_fd();
        let cur = self.at("current");
        let synced = retry(rt, fd, &[&"unable to write ", &cur, &" to disk"], || {
            io(self.current.sync_all())
        });
        if synced.is_none() || self.abandoned {
            return;
        }
        retry(rt, fd, &[&"unable to set mode of ", &cur], || {
            set_mode(&self.current, MODE_FINISHED)
        });
    }
}

/// `DIR/NAME` as bytes.
fn join(dir: &OsStr, name: impl AsRef<[u8]>) -> PathBuf {
    let mut v = dir.as_bytes().to_vec();
    v.push(b'/');
    v.extend_from_slice(name.as_ref());
    PathBuf::from(OsString::from_vec(v))
}

/// Whether the file or directory open at `fd` has no name left.
fn unlinked(fd: BorrowedFd) -> bool {
    nix::sys::stat::fstat(fd).is_ok_and(|s| s.st_nlink == 0)
}

/// Runs `start` with the log directory as the working directory (the
/// processor runs in it, as the original's after its fchdir), then
/// changes back: multilog itself works from where it was started.
fn spawn_in<T>(dir: &OwnedFd, start: impl FnOnce() -> Result<T, Errno>) -> Result<T, Errno> {
    let back = nix::fcntl::open(
        ".",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    nix::unistd::fchdir(dir)?;
    let r = start();
    if let Err(e) = nix::unistd::fchdir(&back) {
        diag::fatal_sys(&[&"unable to switch to starting directory"], e);
    }
    r
}

/// What a step of [`finish`] that keeps failing does once TERM has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnTerm {
    /// Goes on pausing and retrying (a rotation: the lines are in the file
    /// being finished, and a clean exit would leave it out of the next
    /// start's recovery).
    Retry,
    /// Gives up with the step's failure (a start, before any input is
    /// read: the next start does the recovery again, and nothing is lost).
    GiveUp,
}

/// After a failed step of [`finish`]: with [`OnTerm::GiveUp`] and TERM
/// come, the failure; else a pause before the step is tried again.
fn failed(
    rt: &mut Runtime,
    on_term: OnTerm,
    what: &'static str,
    path: PathBuf,
    e: Errno,
) -> Result<(), Failure> {
    if on_term == OnTerm::GiveUp && rt.pending(Signal::SIGTERM) {
        return Err(Failure(what, path, e));
    }
    pause(rt, &[&what, &path], Some(e));
    Ok(())
}

/// Turns `DIR/FILE` into `DIR/@<now>.CODE`, then removes the oldest old
/// files until fewer than `num` remain and (with `cap`, the `S` extension)
/// they take at most `cap` bytes together. `dir` is the directory; `path`
/// names it in messages. A directory removed meanwhile ends it. A step
/// that fails is paused on and tried again; once TERM has come, `on_term`
/// says whether it still is.
#[allow(clippy::too_many_arguments)]
fn finish(
    rt: &mut Runtime,
    dir: BorrowedFd,
    path: &OsStr,
    num: u64,
    cap: u64,
    file: &str,
    code: u8,
    on_term: OnTerm,
) -> Result<(), Failure> {
    let name = join(path, file);
    let meta = loop {
        match stat_at(dir, file) {
            Ok(m) => break m,
            Err(Errno::ENOENT) => return Ok(()),
            Err(_) if unlinked(dir) => return Ok(()),
            Err(e) => failed(rt, on_term, "unable to stat ", name.clone(), e)?,
        }
    };
    // A link count above 1: a crash came after the link; it exists already.
    if meta.st_nlink == 1 {
        loop {
            let mut label = Tai64n::now().label().to_vec();
            label.push(b'.');
            label.push(code);
            let target = PathBuf::from(OsString::from_vec(label));
            match nix::unistd::linkat(dir, file, dir, &target, AtFlags::empty()) {
                Ok(()) => break,
                Err(_) if unlinked(dir) => return Ok(()),
                Err(e) => {
                    let to = join(path, target.as_os_str().as_bytes());
                    failed(rt, on_term, "unable to link to ", to, e)?
                }
            }
        }
    }
    loop {
        match unlink_at(dir, file) {
            Ok(()) => break,
            Err(_) if unlinked(dir) => return Ok(()),
            Err(e) => failed(rt, on_term, "unable to remove ", name.clone(), e)?,
        }
    }
    loop {
        let (old, total) = match old_files(dir, cap > 0) {
            Ok(v) => v,
            Err(_) if unlinked(dir) => return Ok(()),
            Err(e) => {
                failed(rt, on_term, "unable to read ", PathBuf::from(path), e)?;
                continue;
            }
        };
        if (old.len() as u64) < num && (cap == 0 || total <= cap) {
            return Ok(());
        }
        // The oldest by its first 25 bytes (the timestamp); the first entry
        // seen with that prefix, as the original.
        let oldest = old
            .iter()
            .min_by(|a, b| a.to_bytes()[..25].cmp(&b.to_bytes()[..25]));
        if let Some(n) = oldest {
            if let Err(e) = unlink_at(dir, n.as_c_str()) {
                if unlinked(dir) {
                    return Ok(());
                }
                if e != Errno::ENOENT {
                    // Cannot remove it: do not spin; try again after a pause.
                    let p = join(path, n.to_bytes());
                    failed(rt, on_term, "unable to remove ", p, e)?;
                }
            }
        }
    }
}

/// The old files (`@` and at least 25 bytes) in `dir`, in the order the
/// directory lists them, and with `sizes` their total size.
fn old_files(dir: BorrowedFd, sizes: bool) -> Result<(Vec<std::ffi::CString>, u64), Errno> {
    let mut listing = nix::dir::Dir::openat(
        dir,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let mut old = Vec::new();
    let mut total = 0u64;
    for e in listing.iter() {
        let e = e?;
        let n: &CStr = e.file_name();
        if n.to_bytes().first() == Some(&b'@') && n.to_bytes().len() >= 25 {
            if sizes {
                // A file gone meanwhile counts nothing.
                total += stat_at(dir, n).map_or(0, |m| m.st_size as u64);
            }
            old.push(n.to_owned());
        }
    }
    Ok((old, total))
}

/// When a file was started, on the monotonic clock: its creation time
/// where the file system records one, else its last change, taken as an
/// age by the wall clock now (a file from the future is new).
fn started_at(m: &std::fs::Metadata) -> Instant {
    let started = m
        .created()
        .or_else(|_| m.modified())
        .unwrap_or_else(|_| SystemTime::now());
    let age = SystemTime::now()
        .duration_since(started)
        .unwrap_or_default();
    // Linux's monotonic clock holds an age of any file (signed seconds);
    // were it not to, the file would count as new.
    let now = Instant::now();
    now.checked_sub(age).unwrap_or(now)
}

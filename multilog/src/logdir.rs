//! A multilog log directory (spec/multilog.md, "Log directory format").
//!
//! Owns `DIR/{lock,current,previous,processed,state,newstate}` and the
//! `@<tai64n>.s` / `.u` files. After start-up every failure warns with a
//! `..., pausing` line, waits [`PAUSE`] on a deadline (never a sleep: TERM
//! and ALRM end the wait) and retries the same step: nothing is dropped and
//! nothing is written twice. Paths are `DIR/NAME` relative to
//! the starting directory (multilog never changes its own directory).

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use common::diag::{self, errno_of};
use common::exec::Prepared;
use common::rt::{FdAction, Reaper, Runtime, Spawner};
use common::tai::Tai64n;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag};
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use nix::sys::wait::WaitStatus;

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

/// Repeats `f` until it succeeds, pausing after each failure.
fn retry<T>(
    rt: &mut Runtime,
    parts: &[&dyn diag::Part],
    mut f: impl FnMut() -> Result<T, Errno>,
) -> T {
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) => pause(rt, parts, Some(e)),
        }
    }
}

fn io<T>(r: std::io::Result<T>) -> Result<T, Errno> {
    r.map_err(|e| errno_of(&e))
}

/// open_append: `O_WRONLY|O_APPEND|O_CREAT|O_NONBLOCK`, mode 0600 before
/// umask (a FIFO in place of `current` fails with ENXIO, never hangs).
fn open_append(p: &PathBuf) -> Result<File, Errno> {
    io(common::file::open_append(p, 0o600))
}

/// open_trunc: `O_WRONLY|O_NONBLOCK|O_TRUNC|O_CREAT`, mode 0644 before
/// umask (a FIFO there fails instead of blocking).
fn open_trunc(p: &PathBuf) -> Result<File, Errno> {
    io(common::file::open_trunc(p, 0o644))
}

fn set_mode(f: &File, mode: u32) -> Result<(), Errno> {
    io(f.set_permissions(std::fs::Permissions::from_mode(mode)))
}

/// One log directory in use.
pub struct LogDir {
    spec: DirSpec,
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
    /// A failing processor was given up on after TERM: leave the directory
    /// for crash recovery at exit.
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
    /// fatal (exit 111).
    pub fn open(spec: DirSpec, rt: &mut Runtime) -> LogDir {
        let d = spec.path.clone();
        let _ = nix::unistd::mkdir(d.as_os_str(), Mode::from_bits_truncate(0o700));
        if let Err(e) = nix::fcntl::open(
            d.as_os_str(),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            diag::fatal_sys(&[&"unable to open directory ", &d], e);
        }
        let lock = open_append(&join(&d, "lock"))
            .and_then(|f| Flock::lock(f, FlockArg::LockExclusiveNonblock).map_err(|(_, e)| e))
            .unwrap_or_else(|e| diag::fatal_sys(&[&"unable to lock directory ", &d], e));
        let cur = join(&d, "current");
        let clean = match std::fs::metadata(&cur) {
            Ok(m) => m.mode() & 0o100 != 0,
            Err(e) if errno_of(&e) == Errno::ENOENT => false,
            Err(e) => diag::fatal_sys(&[&"unable to stat ", &cur], errno_of(&e)),
        };
        if clean {
            let current = open_append(&cur)
                .unwrap_or_else(|e| diag::fatal_sys(&[&"unable to append to ", &cur], e));
            if let Err(e) = set_mode(&current, MODE_ACTIVE) {
                diag::fatal_sys(&[&"unable to set mode of ", &cur], e);
            }
            let meta = current.metadata().ok();
            let bytes = meta.as_ref().map_or(0, |m| m.len());
            let first_at = meta.filter(|_| bytes > 0).map(|m| started_at(&m));
            return LogDir {
                spec,
                _lock: lock,
                current,
                bytes,
                block: Vec::with_capacity(C_BLOCK),
                pending: Vec::new(),
                abandoned: false,
                first_at,
            };
        }
        // Crash recovery: current has no execute bit (or is missing).
        let _ = std::fs::remove_file(join(&d, "state"));
        let _ = std::fs::remove_file(join(&d, "newstate"));
        let processed = join(&d, "processed");
        let processor_done = match std::fs::metadata(&processed) {
            Ok(m) => m.mode() & 0o100 != 0,
            Err(e) if errno_of(&e) == Errno::ENOENT => false,
            Err(e) => diag::fatal_sys(&[&"unable to stat ", &processed], errno_of(&e)),
        };
        if processor_done {
            let _ = std::fs::remove_file(join(&d, "previous"));
            finish(rt, &d, spec.num, spec.cap, "processed", b's');
        } else {
            let _ = std::fs::remove_file(&processed);
            finish(rt, &d, spec.num, spec.cap, "previous", b'u');
        }
        // Divergence: an empty current is removed, not kept as an empty .u.
        // Only a file: anything else there (a FIFO, say) becomes a .u as
        // the original makes it, and a new current takes its place.
        if std::fs::symlink_metadata(&cur).is_ok_and(|m| m.is_file() && m.len() == 0) {
            let _ = std::fs::remove_file(&cur);
        }
        finish(rt, &d, spec.num, spec.cap, "current", b'u');
        let state = join(&d, "state");
        if let Err(e) = open_trunc(&state) {
            diag::fatal_sys(&[&"unable to write to ", &state], e);
        }
        let current = open_append(&cur)
            .unwrap_or_else(|e| diag::fatal_sys(&[&"unable to write to ", &cur], e));
        if let Err(e) = set_mode(&current, MODE_ACTIVE) {
            diag::fatal_sys(&[&"unable to set mode of ", &cur], e);
        }
        LogDir {
            spec,
            _lock: lock,
            current,
            bytes: 0,
            block: Vec::with_capacity(C_BLOCK),
            pending: Vec::new(),
            abandoned: false,
            first_at: None,
        }
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
            match self.current.write(&pending[off..]) {
                Ok(n) if n > 0 => off += n,
                Ok(_) => pause(
                    rt,
                    &[&"unable to write to ", &self.at("current")],
                    Some(Errno::EIO),
                ),
                Err(e) => pause(
                    rt,
                    &[&"unable to write to ", &self.at("current")],
                    Some(errno_of(&e)),
                ),
            }
        }
        self.pending = pending;
        self.pending.clear();
    }

    /// Writes everything held: before every read and at exit.
    pub fn flush(&mut self, rt: &mut Runtime) {
        self.flush_block(rt);
        self.write_pending(rt);
    }

    /// current becomes previous, then an old file (through the processor
    /// if there is one); a new empty current takes its place.
    pub fn rotate(&mut self, rt: &mut Runtime) {
        self.write_pending(rt);
        if self.abandoned {
            // `previous` is kept for the next start's recovery.
            return;
        }
        let cur = self.at("current");
        let prev = self.at("previous");
        retry(rt, &[&"unable to write ", &cur, &" to disk"], || {
            io(self.current.sync_all())
        });
        retry(
            rt,
            &[
                &"unable to rename current to previous in directory ",
                &self.spec.path,
            ],
            || io(std::fs::rename(&cur, &prev)),
        );
        let current = retry(rt, &[&"unable to create ", &cur], || open_append(&cur));
        retry(rt, &[&"unable to set mode of ", &cur], || {
            set_mode(&current, MODE_ACTIVE)
        });
        self.current = current;
        self.bytes = 0;
        self.first_at = None;
        retry(rt, &[&"unable to set mode of ", &prev], || {
            io(std::fs::set_permissions(
                &prev,
                std::fs::Permissions::from_mode(MODE_FINISHED),
            ))
        });
        match self.spec.processor.clone() {
            None => finish(
                rt,
                &self.spec.path,
                self.spec.num,
                self.spec.cap,
                "previous",
                b's',
            ),
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
        let cstr = |b: &[u8]| CString::new(b.to_vec()).unwrap_or_default();
        let argv = [
            OsString::from("sh"),
            OsString::from("-c"),
            processor.to_os_string(),
        ];
        let sh = Prepared::with_path(OsStr::new("/bin/sh"), &argv, None);
        let dir = cstr(d.as_bytes());
        let spawner = rt.spawner();
        loop {
            let ok = match self.run_processor(rt, &spawner, &sh, &dir) {
                Ok(ws) => match ws {
                    WaitStatus::Exited(_, code) => code == 0,
                    _ => {
                        // Divergence: the original appends a stale errno here.
                        pause(rt, &[&"processor crashed in ", &d], None);
                        false
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
                    false
                }
            };
            if ok {
                break;
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
            pause(rt, &[&"processor failed in ", &d], None);
        }
        let processed = self.at("processed");
        let f = retry(rt, &[&"unable to create ", &processed], || {
            open_append(&processed)
        });
        retry(rt, &[&"unable to write ", &processed, &" to disk"], || {
            io(f.sync_all())
        });
        retry(rt, &[&"unable to set mode of ", &processed], || {
            set_mode(&f, MODE_FINISHED)
        });
        drop(f);
        let newstate = self.at("newstate");
        let f = retry(rt, &[&"unable to create ", &newstate], || {
            open_append(&newstate)
        });
        retry(rt, &[&"unable to write ", &newstate, &" to disk"], || {
            io(f.sync_all())
        });
        drop(f);
        let prev = self.at("previous");
        retry(
            rt,
            &[&"unable to remove ", &prev],
            || match std::fs::remove_file(&prev) {
                Err(e) if errno_of(&e) == Errno::ENOENT => Ok(()),
                r => io(r),
            },
        );
        retry(
            rt,
            &[&"unable to rename newstate to state in directory ", &d],
            || io(std::fs::rename(&newstate, self.at("state"))),
        );
        finish(rt, &d, self.spec.num, self.spec.cap, "processed", b's');
    }

    /// Starts the processor with previous on fd 0, processed on 1, state on
    /// 4, newstate on 5, in DIR, and waits for it (on the runtime: signals
    /// are noted meanwhile).
    fn run_processor(
        &self,
        rt: &mut Runtime,
        spawner: &Spawner,
        sh: &Prepared,
        dir: &CString,
    ) -> Result<WaitStatus, Errno> {
        let rd = |name: &str| io(common::file::open_read(self.at(name)));
        let tr = |name: &str| open_trunc(&self.at(name));
        let (prev, processed, state, newstate) = (
            rd("previous")?,
            tr("processed")?,
            rd("state")?,
            tr("newstate")?,
        );
        let plan = [
            FdAction(prev.as_raw_fd(), 0),
            FdAction(processed.as_raw_fd(), 1),
            FdAction(state.as_raw_fd(), 4),
            FdAction(newstate.as_raw_fd(), 5),
        ];
        let pid = spawner.spawn(sh, &plan, Some(dir))?;
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
        if self.abandoned {
            let cur = self.at("current");
            retry(rt, &[&"unable to write ", &cur, &" to disk"], || {
                io(self.current.sync_all())
            });
            return;
        }
        let cur = self.at("current");
        retry(rt, &[&"unable to write ", &cur, &" to disk"], || {
            io(self.current.sync_all())
        });
        retry(rt, &[&"unable to set mode of ", &cur], || {
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

/// Turns `DIR/FILE` into `DIR/@<now>.CODE`, then removes the oldest old
/// files until fewer than `num` remain and (with `cap`, the `S` extension)
/// they take at most `cap` bytes together.
pub fn finish(rt: &mut Runtime, dir: &OsStr, num: u64, cap: u64, file: &str, code: u8) {
    let path = join(dir, file);
    let meta = loop {
        match std::fs::metadata(&path) {
            Ok(m) => break m,
            Err(e) if errno_of(&e) == Errno::ENOENT => return,
            Err(e) => pause(rt, &[&"unable to stat ", &path], Some(errno_of(&e))),
        }
    };
    // A link count above 1: a crash came after the link; it exists already.
    if meta.nlink() == 1 {
        loop {
            let mut name = Tai64n::now().label().to_vec();
            name.push(b'.');
            name.push(code);
            let target = join(dir, &name);
            match std::fs::hard_link(&path, &target) {
                Ok(()) => break,
                Err(e) => pause(rt, &[&"unable to link to ", &target], Some(errno_of(&e))),
            }
        }
    }
    retry(rt, &[&"unable to remove ", &path], || {
        io(std::fs::remove_file(&path))
    });
    loop {
        let entries = match std::fs::read_dir(dir) {
            Ok(d) => d,
            Err(e) => {
                pause(rt, &[&"unable to read ", &dir], Some(errno_of(&e)));
                continue;
            }
        };
        let mut old: Vec<Vec<u8>> = Vec::new();
        let mut total = 0u64;
        let mut failed = None;
        for e in entries {
            match e {
                Ok(e) => {
                    let n = e.file_name().into_vec();
                    if n.first() == Some(&b'@') && n.len() >= 25 {
                        if cap > 0 {
                            // A file gone meanwhile counts nothing.
                            total += e.metadata().map_or(0, |m| m.len());
                        }
                        old.push(n);
                    }
                }
                Err(e) => failed = Some(errno_of(&e)),
            }
        }
        if let Some(e) = failed {
            pause(rt, &[&"unable to read ", &dir], Some(e));
            continue;
        }
        if (old.len() as u64) < num && (cap == 0 || total <= cap) {
            return;
        }
        // The oldest by its first 25 bytes (the timestamp); the first entry
        // seen with that prefix, as the original.
        let oldest = old.iter().min_by(|a, b| a[..25].cmp(&b[..25])).cloned();
        if let Some(n) = oldest {
            let p = join(dir, &n);
            if let Err(e) = std::fs::remove_file(&p) {
                if errno_of(&e) != Errno::ENOENT {
                    // Cannot remove it: do not spin; try again after a pause.
                    pause(rt, &[&"unable to remove ", &p], Some(errno_of(&e)));
                }
            }
        }
    }
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

//! Waiting for services to reach a state: `svc -w` and `svwait`.
//!
//! A [`Watch`] subscribes to a service before anything is sent to it, so a
//! fast transition cannot be missed: to the event fifodir of our
//! supervise, and in every case to the renames in `supervise/` through one
//! inotify instance shared by all the watches (a C supervise writes no
//! events, and a fifodir our supervise left behind stays silent under it).
//! It also holds a writer on `supervise/ok`: when supervise goes away, its
//! reader closes and the writer reports an error, with no polling. Nothing
//! here sleeps; the wait is one `poll` over every watch with the caller's
//! deadline.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Instant;

use common::control::{self, Open};
use common::fifodir::Subscription;
use common::rt::{Disposition, Runtime};
use common::status::Status;
use common::xstatus::{self, Sidecar};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use nix::sys::signal::Signal;

/// Exit code: the state was not reached in time.
pub const EXIT_TIMEOUT: i32 = 99;
/// Exit code: a supervise went away (or was not there).
pub const EXIT_GONE: i32 = 102;
/// Largest exit code counting permanent failures (below [`EXIT_TIMEOUT`]).
const FAILURES_MAX: usize = 98;

/// The state waited for (`-u -U -d -D -r -R`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `u`: up.
    Up,
    /// `U`: up and ready.
    Ready,
    /// `d`: down.
    Down,
    /// `D`: down, and `finish` done.
    Finished,
    /// `r`: started again (a new pid).
    Restarted,
    /// `R`: started again and ready.
    RestartedReady,
}

impl Target {
    pub fn from_letter(c: u8) -> Option<Target> {
        Some(match c {
            b'u' => Target::Up,
            b'U' => Target::Ready,
            b'd' => Target::Down,
            b'D' => Target::Finished,
            b'r' => Target::Restarted,
            b'R' => Target::RestartedReady,
            _ => return None,
        })
    }

    /// Whether a permanent failure (`O`) means this target never comes.
    fn wants_up(self) -> bool {
        !matches!(self, Target::Down | Target::Finished)
    }

    /// Whether the event byte `b` means the target is reached.
    fn reached_by(self, b: u8) -> bool {
        match self {
            Target::Up | Target::Restarted => b == b'u' || b == b'U',
            Target::Ready | Target::RestartedReady => b == b'U',
            Target::Down => b == b'd' || b == b'D',
            Target::Finished => b == b'D',
        }
    }

    /// Whether the state read from the files says the target is reached;
    /// `first` is the pid when the watch began.
    fn reached_in(self, st: &Status, x: &Sidecar, first: u32) -> bool {
        let ready = matches!(x, Sidecar::Matched(x) if x.ready.is_some());
        let new = st.pid != 0 && st.pid != first;
        match self {
            Target::Up => st.pid != 0,
            Target::Ready => st.pid != 0 && ready,
            Target::Down => st.pid == 0,
            // Down, and no `finish` running: known from the sidecar of the
            // same pid; a supervise without one has no `finish`. A sidecar
            // of another pid was caught before supervise rewrote it (the
            // service just went down: `finish` may be starting); the event
            // byte will say.
            Target::Finished => {
                st.pid == 0
                    && match x {
                        Sidecar::Absent => true,
                        Sidecar::Matched(x) => !x.finishing,
                        Sidecar::Mismatched => false,
                    }
            }
            Target::Restarted => new,
            Target::RestartedReady => new && ready,
        }
    }
}

/// Where a watched service stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Reached,
    /// `finish` asked for no restart while an up state was waited for.
    Failed,
    /// supervise went away.
    Gone,
}

/// Why a watch could not begin.
#[derive(Debug)]
pub enum SubscribeError {
    /// No supervise runs on the directory.
    NotRunning,
    /// A system call failed; the text names what was being done.
    Sys(&'static str, Errno),
}

/// One service being waited on.
pub struct Watch {
    /// The directory as given, for messages.
    pub dir: OsString,
    sup: PathBuf,
    /// A writer on `supervise/ok`: an error on it means supervise is gone.
    ok: File,
    /// Our supervise's event fifodir, when the directory has one.
    events: Option<Subscription>,
    /// The watch on `supervise/` in the shared inotify instance (none if
    /// it could not be made and the fifodir is there).
    renames: Option<WatchDescriptor>,
    /// The pid when the watch began.
    first: u32,
    pub outcome: Option<Outcome>,
}

/// Every service being waited on, and the one inotify instance that
/// watches the renames in their `supervise/` directories.
///
/// The renames are watched even where an event fifodir exists: the
/// fifodir may be a leftover of our supervise in a directory that a C
/// supervise now runs, which never writes to it. The event bytes see every
/// transition, however fast; a rename only makes the watch read the files
/// again, and a watch stops looking at renames once its first event byte
/// has come.
#[derive(Default)]
pub struct Watches {
    list: Vec<Watch>,
    renames: Option<Inotify>,
    /// INT, TERM and HUP caught from the first subscription on, so that a
    /// waiter ended by one (Ctrl-C, `timeout`) removes its FIFOs first.
    rt: Option<Runtime>,
}

/// The signals a waiter ends on after removing its FIFOs (those not
/// ignored when it started).
const ENDING: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

impl Watches {
    pub fn new() -> Watches {
        Watches::default()
    }

    /// Subscribes to `dir` (relative to the current directory, which the
    /// caller must not leave while it waits).
    pub fn subscribe(&mut self, dir: &OsStr) -> Result<(), SubscribeError> {
        if self.rt.is_none() {
            let table: Vec<_> = ENDING
                .iter()
                .filter(|&&sig| !common::rt::ignored(sig))
                .map(|&sig| (sig, Disposition::Catch))
                .collect();
            self.rt =
                Some(Runtime::new(&table).map_err(|e| SubscribeError::Sys("catch signals", e))?);
        }
        let base = Path::new(dir);
        let ok = match control::open_fifo_writer(&base.join(control::OK)) {
            Open::Running(f) => f,
            Open::NotRunning | Open::Error(Errno::ENOENT) => {
                return Err(SubscribeError::NotRunning)
            }
            Open::Error(e) => return Err(SubscribeError::Sys("open supervise/ok", e)),
        };
        let event = base.join(control::EVENT);
        let events = if event.is_dir() {
            Some(
                Subscription::new(&event)
                    .map_err(|e| SubscribeError::Sys("subscribe to supervise/event", e))?,
            )
        } else {
            None
        };
        let sup = base.join(control::SUPERVISE_DIR);
        let renames = match self.watch_renames(&sup) {
            Ok(wd) => Some(wd),
            // With a fifodir, the renames are only a second source: a
            // user out of inotify instances (128 by default) still waits
            // on the events, as before they were watched.
            Err(_) if events.is_some() => None,
            Err(e) => return Err(SubscribeError::Sys("watch supervise", e)),
        };
        // The pid a restart is measured from: a status that cannot be read
        // for want of descriptors or memory would give none (0), and any pid
        // would then look like a restart.
        let first = match common::file::read_bounded(sup.join("status"), common::status::LEN + 1) {
            Ok(b) => Status::decode(&b).map_or(0, |s| s.pid),
            Err(e) => match common::diag::errno_of(&e) {
                e if short_of_resources(e) => {
                    return Err(SubscribeError::Sys("read supervise/status", e))
                }
                _ => 0,
            },
        };
        self.list.push(Watch {
            dir: dir.to_os_string(),
            sup,
            ok,
            events,
            renames,
            first,
            outcome: None,
        });
        Ok(())
    }

    /// Adds `sup` to the shared inotify instance, made at the first call.
    fn watch_renames(&mut self, sup: &Path) -> Result<WatchDescriptor, Errno> {
        let inotify = match &mut self.renames {
            Some(i) => i,
            none => none.insert(Inotify::init(
                InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK,
            )?),
        };
        inotify.add_watch(
            sup,
            AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_CLOSE_WRITE,
        )
    }

    /// Waits until every watch (`all`) or one of them has reached `target`,
    /// or `deadline` passes. Returns the exit code: 0 reached,
    /// [`EXIT_TIMEOUT`], [`EXIT_GONE`], or the number of services that
    /// failed permanently. Watches that could not begin are given as
    /// already gone.
    pub fn wait(
        &mut self,
        gone: usize,
        target: Target,
        all: bool,
        deadline: Option<Instant>,
    ) -> i32 {
        if gone > 0 {
            return EXIT_GONE;
        }
        if self.list.is_empty() {
            return 0;
        }
        let (watches, renames) = (&mut self.list, &self.renames);
        let Some(rt) = self.rt.as_mut() else {
            return 0;
        };
        if let Some((status, e)) = watches.iter_mut().find_map(|w| w.check(target).err()) {
            give_up(watches, &[&"unable to read ", &status], e);
        }
        loop {
            let count = |o| watches.iter().filter(|w| w.outcome == Some(o)).count();
            let (reached, failed) = (count(Outcome::Reached), count(Outcome::Failed));
            if count(Outcome::Gone) > 0 {
                return EXIT_GONE;
            }
            if all && reached + failed == watches.len() || !all && failed == watches.len() {
                return failed.min(FAILURES_MAX) as i32;
            }
            if !all && reached > 0 {
                return 0;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return EXIT_TIMEOUT;
            }
            let open: Vec<usize> = (0..watches.len())
                .filter(|&i| watches[i].is_open())
                .collect();
            // Per open watch: its event FIFO (if any) and its `ok` writer;
            // then the shared inotify instance.
            let (ready, renamed): (Vec<(bool, bool)>, bool) = {
                let mut fds = Vec::with_capacity(open.len() * 2 + 1);
                for &i in &open {
                    let w = &watches[i];
                    match &w.events {
                        Some(sub) => fds.push(PollFd::new(sub.fd(), PollFlags::POLLIN)),
                        // Never ready: keeps the pairs aligned.
                        None => fds.push(PollFd::new(w.ok.as_fd(), PollFlags::empty())),
                    }
                    fds.push(PollFd::new(w.ok.as_fd(), PollFlags::empty()));
                }
                if let Some(i) = renames {
                    fds.push(PollFd::new(i.as_fd(), PollFlags::POLLIN));
                }
                match rt.wait_fds(&mut fds, deadline) {
                    Ok(false) => {}
                    Ok(true) => {
                        drop(fds);
                        if let Some(&sig) = ENDING.iter().find(|&&sig| rt.take(sig)) {
                            // The FIFOs go first.
                            watches.clear();
                            common::rt::die_of(sig);
                        }
                        continue;
                    }
                    Err(e) => {
                        drop(fds);
                        give_up(watches, &[&"unable to poll"], e);
                    }
                }
                let hit = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
                let (pairs, last) = fds.split_at(open.len() * 2);
                (
                    pairs.chunks(2).map(|c| (hit(&c[0]), hit(&c[1]))).collect(),
                    last.first().is_some_and(hit),
                )
            };
            let mut moved = Vec::new();
            if let Some(renames) = renames.as_ref().filter(|_| renamed) {
                while let Ok(evs) = renames.read_events() {
                    if evs.is_empty() {
                        break;
                    }
                    moved.extend(evs.into_iter().map(|e| e.wd));
                }
            }
            for (k, &i) in open.iter().enumerate() {
                let (events, ok) = ready[k];
                let w = &mut watches[i];
                if events && w.take(target) {
                    // A supervise writes to the fifodir: the events say
                    // everything from here on, and the renames would only
                    // wake this loop for nothing (four per transition).
                    if let (Some(wd), Some(i)) = (w.renames.take(), renames) {
                        let _ = i.rm_watch(wd);
                    }
                }
                let renamed = w.renames.is_some_and(|wd| moved.contains(&wd));
                if let Err((status, e)) = w.recheck(target, renamed, ok) {
                    give_up(watches, &[&"unable to read ", &status], e);
                }
            }
        }
    }
}

/// Descriptors one watch holds: its writer on `supervise/ok` and both
/// ends of its event FIFO.
const FDS_PER_WATCH: u64 = 3;
/// Descriptors besides the watches: stdio, the inotify instance, a status
/// file being read, a control FIFO being written, and some to spare.
const FDS_BESIDE: u64 = 16;

/// Raises the soft limit on descriptors, within the hard one, to what
/// watching `dirs` directories takes. At the usual soft limit of 1024,
/// `svc -w` and `svwait` would otherwise fail (`process cannot open more
/// files`) at about 340 services, on a machine whose hard limit allows
/// thousands. Neither starts a program, so nothing inherits the raised
/// limit. It is never lowered; where it cannot be raised, subscribing
/// fails as it did without this.
pub fn reserve_descriptors(dirs: usize) {
    let need = (dirs as u64)
        .saturating_mul(FDS_PER_WATCH)
        .saturating_add(FDS_BESIDE);
    common::rt::raise_descriptor_limit(need);
}

/// Out of descriptors or memory: what no event will ever cure.
fn short_of_resources(e: Errno) -> bool {
    matches!(e, Errno::EMFILE | Errno::ENFILE | Errno::ENOMEM)
}

/// Ends the wait on a system error: the subscriptions go first (their
/// FIFOs are removed), then the fatal line, exit 111.
fn give_up(watches: &mut Vec<Watch>, parts: &[&dyn common::diag::Part], e: Errno) -> ! {
    watches.clear();
    common::diag::fatal_sys(parts, e)
}

impl Watch {
    /// Whether the service has not reached an outcome yet.
    fn is_open(&self) -> bool {
        self.outcome.is_none()
    }

    /// Looks at the files. Err: the status cannot be read for want of
    /// descriptors or memory, and no event would ever make it readable (a
    /// wait for a state the service is already in would run to its
    /// timeout, or for ever); the wait must end.
    fn check(&mut self, target: Target) -> Result<(), (PathBuf, Errno)> {
        if !self.is_open() {
            return Ok(());
        }
        match xstatus::read_pair(&self.sup) {
            Some((st, x)) => {
                if target.reached_in(&st, &x, self.first) {
                    self.outcome = Some(Outcome::Reached);
                }
            }
            // Not written yet is waited for.
            None => {
                let status = self.sup.join("status");
                if let Err(e) = common::file::read_bounded(&status, common::status::LEN + 1) {
                    let e = common::diag::errno_of(&e);
                    if short_of_resources(e) {
                        return Err((status, e));
                    }
                }
            }
        }
        Ok(())
    }

    /// After a wake-up: looks at the files again if they were `renamed`;
    /// if supervise closed `ok`, takes the last events and looks again,
    /// and it is gone only if nothing said where it stands.
    fn recheck(&mut self, target: Target, renamed: bool, ok: bool) -> Result<(), (PathBuf, Errno)> {
        if renamed {
            self.check(target)?;
        }
        if ok && self.outcome.is_none() {
            let _ = self.take(target);
            self.check(target)?;
            if self.outcome.is_none() {
                self.outcome = Some(Outcome::Gone);
            }
        }
        Ok(())
    }

    /// Takes what arrived on the event FIFO; whether anything did.
    fn take(&mut self, target: Target) -> bool {
        let Some(sub) = &mut self.events else {
            return false;
        };
        let mut bytes = Vec::new();
        sub.events(&mut bytes);
        for &b in &bytes {
            if self.outcome.is_some() {
                break;
            }
            if target.reached_by(b) {
                self.outcome = Some(Outcome::Reached);
            } else if b == b'O' && target.wants_up() {
                self.outcome = Some(Outcome::Failed);
            } else if b == b'x' {
                self.outcome = Some(Outcome::Gone);
            }
        }
        !bytes.is_empty()
    }
}

/// Parses a timeout in milliseconds.
pub fn parse_ms(v: &OsStr) -> Option<u64> {
    v.to_str()?.parse().ok()
}

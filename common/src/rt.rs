//! The runtime under every daemon: one event loop, one spawner, one reaper.
//!
//! - [`Runtime`]: the signals a program handles, as a table. Installing the
//!   table gives each caught signal a handler that sets a flag and blocks
//!   it; [`Runtime::wait`] lets them in only while it waits (ppoll) on the
//!   caller's descriptors up to a deadline. No descriptor of its own. The same table says which signals a child gets back at their
//!   default ([`Runtime::spawner`], [`Runtime::reset_child`]).
//! - [`Timers`]: typed deadlines, the earliest first.
//! - [`Backoff`]: what a loop does with an error that persists (a poll or an
//!   accept that keeps failing): warn once, wait on a deadline that grows,
//!   retry; never spin.
//! - [`Spawner`]: starts a program with `posix_spawn` (no copy of the
//!   parent, nothing outside `sys`): PATH candidates as `pathexec` tries them,
//!   descriptor plan, working directory, signals reset, empty mask; or,
//!   with the same plan, by fork + exec ([`Spawner::fork_exec`]) where the
//!   parent must not wait for each exec (svscan bringing up a tree).
//! - [`Reaper`]: reaps every exited child and hands each exit to its owner
//!   (pid -> service, pid -> connection); children of nobody (orphans of a
//!   PID 1) are reported without an owner.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags};
use nix::spawn::{PosixSpawnAttr, PosixSpawnFileActions, PosixSpawnFlags};
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use nix::sys::signal::{self, SigSet, SigmaskHow, Signal};
use nix::sys::time::TimeSpec;
use nix::unistd::Pid;

use crate::diag::{self, errno_of};
use crate::exec::Prepared;
use crate::sys;

/// Most descriptors one [`Runtime::wait`] watches besides the signals.
pub const MAX_WATCH: usize = 8;

/// The first wait after a persistent error, and the longest.
pub const BACKOFF_MIN: Duration = Duration::from_millis(50);
pub const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// What a program does with a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Caught: a flag, set by a handler that runs only inside a wait.
    Catch,
    /// Ignored (SIGPIPE in most daemons).
    Ignore,
}

/// The program's signal table, installed.
pub struct Runtime {
    table: Vec<(Signal, Disposition)>,
    /// Set by the handlers of the caught signals, one per signal.
    flags: Vec<(Signal, Arc<AtomicBool>)>,
    /// The mask while waiting: the one we started with, less the caught
    /// signals (blocked everywhere else).
    wait_mask: SigSet,
    /// Caught signals seen and not taken yet, one bit per number.
    arrived: u64,
    /// Whether the last failed poll has been reported.
    poll_backoff: Backoff,
}

/// What ended a [`Runtime::wait`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wake {
    ready: u32,
    /// A caught signal arrived (see [`Runtime::take`]).
    pub signal: bool,
}

impl Wake {
    /// Whether watched descriptor `i` (its index in the slice given to
    /// `wait`) is ready, or has an error or hang-up to report.
    pub fn ready(&self, i: usize) -> bool {
        self.ready & (1 << i) != 0
    }
}

impl Runtime {
    /// Installs `table`. A caught signal gets a handler that sets a flag,
    /// and is blocked except inside [`Runtime::wait`] (ppoll with the mask
    /// that lets them in): a signal is never lost between a check and the
    /// wait, never interrupts other work, and costs no descriptor (a server
    /// under a tight descriptor limit needs as many as the original).
    /// Ignored ones get SIG_IGN. SIGPIPE, which the Rust runtime ignores, is
    /// in every table, so that every child gets it back. Every child started
    /// through the runtime gets an empty mask ([`Runtime::spawner`],
    /// [`Runtime::reset_child`]).
    pub fn new(table: &[(Signal, Disposition)]) -> Result<Runtime, Errno> {
        let mut caught = SigSet::empty();
        let mut t = Vec::with_capacity(table.len() + 1);
        let mut flags = Vec::new();
        for &(sig, d) in table {
            match d {
                Disposition::Catch => {
                    let flag = Arc::new(AtomicBool::new(false));
                    signal_hook::flag::register(sig as i32, Arc::clone(&flag))
                        .map_err(|e| errno_of(&e))?;
                    flags.push((sig, flag));
                    caught.add(sig);
                }
                Disposition::Ignore => sys::ignore_signal(sig),
            }
            t.push((sig, d));
        }
        if !t.iter().any(|e| e.0 == Signal::SIGPIPE) {
            t.push((Signal::SIGPIPE, Disposition::Ignore));
        }
        let mut old = SigSet::empty();
        signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&caught), Some(&mut old))?;
        let mut wait_mask = old;
        for sig in caught.iter() {
            wait_mask.remove(sig);
        }
        Ok(Runtime {
            table: t,
            flags,
            wait_mask,
            arrived: 0,
            poll_backoff: Backoff::new(),
        })
    }

    /// The signals a child must get back at their default: every one in
    /// the table (caught ones are reset by exec anyway; ignored ones are not).
    pub fn reset_set(&self) -> SigSet {
        let mut s = SigSet::empty();
        for &(sig, _) in &self.table {
            s.add(sig);
        }
        s
    }

    /// In a forked child that will exec: every signal of the table back at
    /// its default and an empty mask, before any other work (a TERM meant
    /// for the child must not reach the parent's handlers).
    pub fn reset_child(&self) {
        for &(sig, _) in &self.table {
            sys::default_signal(sig);
        }
        sys::default_internal_signals();
        let _ = signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    }

    /// A spawner whose children get this table's signals at their default.
    pub fn spawner(&self) -> Spawner {
        Spawner {
            reset: self.reset_set(),
            own_group: false,
            nofile: None,
        }
    }

    /// Whether `sig` arrived since the last `take` of it.
    pub fn take(&mut self, sig: Signal) -> bool {
        let bit = 1u64 << (sig as u32 % 64);
        let was = self.arrived & bit != 0;
        self.arrived &= !bit;
        was
    }

    /// Whether `sig` has arrived and not been taken yet (leaves it pending).
    pub fn pending(&self, sig: Signal) -> bool {
        self.arrived & (1u64 << (sig as u32 % 64)) != 0
    }

    /// Moves the handlers' flags into `arrived`; whether one was set.
    fn collect(&mut self) -> bool {
        let mut any = false;
        for (sig, flag) in &self.flags {
            // A flag that is not set is only read: a write would cost a
            // parent that forks after each wait (tcpserver) a copy of its
            // page. (The handlers run only inside the wait: none sets a
            // flag between the load and the swap.)
            if flag.load(Ordering::SeqCst) && flag.swap(false, Ordering::SeqCst) {
                self.arrived |= 1u64 << (*sig as u32 % 64);
                any = true;
            }
        }
        any
    }

    /// Waits until one of `watch` is ready, a caught signal arrives, or
    /// `deadline` passes; at most [`MAX_WATCH`] descriptors (more are not
    /// watched). Returns early and empty on EINTR. A poll that fails for
    /// another reason warns once and waits a growing deadline on the signals
    /// alone, so that a persistent error never spins.
    pub fn wait(
        &mut self,
        watch: &[(BorrowedFd<'_>, PollFlags)],
        deadline: Option<Instant>,
    ) -> Wake {
        let mut wake = Wake::default();
        // A signal that came while we were busy (blocked, so only if it was
        // let in by an earlier wait) ends this wait at once.
        if self.collect() {
            wake.signal = true;
            return wake;
        }
        let n = watch.len().min(MAX_WATCH);
        if n == 0 {
            let _ = nix::poll::ppoll(&mut [], timespec_until(deadline), Some(self.wait_mask));
            wake.signal = self.collect();
            return wake;
        }
        // A fixed array (no allocation per wait); slots past `n` repeat the
        // first descriptor and are not passed to ppoll.
        let mut fds: [PollFd<'_>; MAX_WATCH] = std::array::from_fn(|i| {
            let (fd, ev) = watch[if i < n { i } else { 0 }];
            PollFd::new(fd, ev)
        });
        match nix::poll::ppoll(
            &mut fds[..n],
            timespec_until(deadline),
            Some(self.wait_mask),
        ) {
            Ok(_) => {
                self.poll_backoff.succeeded();
                for (i, f) in fds[..n].iter().enumerate() {
                    if f.revents().is_some_and(|r| !r.is_empty()) {
                        wake.ready |= 1 << i;
                    }
                }
            }
            Err(Errno::EINTR) => {}
            Err(e) => {
                if self.poll_backoff.failed(Instant::now()) {
                    diag::warn_sys(&[&"unable to poll"], e);
                }
                let until = self.poll_backoff.deadline();
                let until = match (until, deadline) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                // The signals alone, until the back-off's deadline.
                let _ = nix::poll::ppoll(&mut [], timespec_until(until), Some(self.wait_mask));
            }
        }
        wake.signal = self.collect();
        wake
    }

    /// As [`Runtime::wait`], for a caller with more descriptors than
    /// [`MAX_WATCH`] in a poll set of its own: waits until one of `fds` is
    /// ready (their `revents` say which), a caught signal arrives
    /// (`Ok(true)`), or `deadline` passes. EINTR is `Ok`; another failure
    /// is returned, for the caller to end on (no back-off here).
    pub fn wait_fds(
        &mut self,
        fds: &mut [PollFd<'_>],
        deadline: Option<Instant>,
    ) -> Result<bool, Errno> {
        if self.collect() {
            return Ok(true);
        }
        match nix::poll::ppoll(fds, timespec_until(deadline), Some(self.wait_mask)) {
            Ok(_) | Err(Errno::EINTR) => Ok(self.collect()),
            Err(e) => Err(e),
        }
    }
}

/// Raises the soft limit on descriptors to `to`, or as near as the hard
/// limit allows (where that is unlimited, the kernel's `nr_open`); never
/// lowers it. For a program that needs more descriptors than the usual
/// soft limit of 1024 gives and starts no program that would inherit them
/// (or gives its children the old limit back, [`Spawner::descriptor_limit`]).
/// False if the limit could not be raised.
pub fn raise_descriptor_limit(to: u64) -> bool {
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return false;
    };
    let ceiling = if hard == nix::sys::resource::RLIM_INFINITY {
        std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(1 << 20)
    } else {
        hard
    };
    let want = to.min(ceiling);
    want > soft && setrlimit(Resource::RLIMIT_NOFILE, want, hard).is_ok()
}

/// The descriptor limit now, (soft, hard).
pub fn descriptor_limit() -> Option<(u64, u64)> {
    getrlimit(Resource::RLIMIT_NOFILE).ok()
}

/// Sets the descriptor limit back to `(soft, hard)`, as
/// [`descriptor_limit`] gave it.
pub fn set_descriptor_limit((soft, hard): (u64, u64)) {
    let _ = setrlimit(Resource::RLIMIT_NOFILE, soft, hard);
}

/// Whether `sig` is ignored now (from /proc/self/status). Asked before a
/// table catches it, it tells what the program was started with: one
/// started with SIGINT ignored (a background job of a script) keeps it so.
pub fn ignored(sig: Signal) -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .is_some_and(|m| m & (1u64 << ((sig as u32).saturating_sub(1) % 64)) != 0)
}

/// Ends the program as `sig` would have, had it not been caught: default
/// disposition, unblocked, raised (the parent sees the signal, a shell 128
/// plus its number). For a program that caught it only to clean up first.
pub fn die_of(sig: Signal) -> ! {
    sys::default_signal(sig);
    let mut set = SigSet::empty();
    set.add(sig);
    let _ = signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None);
    let _ = signal::raise(sig);
    std::process::exit(128 + sig as i32)
}

/// The time left until `deadline`, for ppoll (`None`: no deadline).
fn timespec_until(deadline: Option<Instant>) -> Option<TimeSpec> {
    deadline.map(|t| TimeSpec::from_duration(t.saturating_duration_since(Instant::now())))
}

/// Typed deadlines: at most one per kind, the earliest first.
#[derive(Debug, Clone)]
pub struct Timers<K: Copy + Eq> {
    at: Vec<(Instant, K)>,
}

impl<K: Copy + Eq> Default for Timers<K> {
    fn default() -> Self {
        Timers { at: Vec::new() }
    }
}

impl<K: Copy + Eq> Timers<K> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets (or moves) the deadline of `kind`.
    pub fn set(&mut self, kind: K, at: Instant) {
        self.cancel(kind);
        self.at.push((at, kind));
    }

    pub fn cancel(&mut self, kind: K) {
        self.at.retain(|&(_, k)| k != kind);
    }

    pub fn get(&self, kind: K) -> Option<Instant> {
        self.at.iter().find(|&&(_, k)| k == kind).map(|&(t, _)| t)
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.at.iter().map(|&(t, _)| t).min()
    }

    /// Removes and returns one kind whose deadline has passed.
    pub fn expired(&mut self, now: Instant) -> Option<K> {
        let i = self.at.iter().position(|&(t, _)| t <= now)?;
        Some(self.at.swap_remove(i).1)
    }
}

/// The state of an operation that may fail again and again: the first
/// failure after a success is reported (the caller warns once), then the
/// operation is not retried before a deadline that doubles from
/// [`BACKOFF_MIN`] to [`BACKOFF_MAX`].
#[derive(Debug, Clone, Default)]
pub struct Backoff {
    delay: Option<Duration>,
    until: Option<Instant>,
}

impl Backoff {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a failure at `now`; true if it is the first since the last
    /// success (the one to warn about).
    pub fn failed(&mut self, now: Instant) -> bool {
        let first = self.delay.is_none();
        let d = self.delay.map_or(BACKOFF_MIN, |d| (d * 2).min(BACKOFF_MAX));
        self.delay = Some(d);
        self.until = Some(now + d);
        first
    }

    pub fn succeeded(&mut self) {
        self.delay = None;
        self.until = None;
    }

    /// Whether the operation must wait (its deadline has not passed).
    pub fn waiting(&self, now: Instant) -> bool {
        self.until.is_some_and(|t| now < t)
    }

    /// When the operation may be tried again, if it is waiting.
    pub fn deadline(&self) -> Option<Instant> {
        self.until
    }

    /// Lets the next try happen at once (something changed that may have
    /// cured the error, such as a child exiting and freeing a descriptor).
    pub fn retry_now(&mut self) {
        self.until = None;
    }
}

/// One step of a child's descriptor plan, carried out in order before the
/// exec: `dup2(from, to)` (`from` may be close-on-exec: the copy is not).
#[derive(Debug, Clone, Copy)]
pub struct FdAction(pub RawFd, pub RawFd);

/// Whether step `i`'s source is replaced by an earlier step (then the
/// plan must read it from a copy made before any step). A step onto its
/// own source (`FdAction(0, 0)`: keep 0 across the exec) replaces nothing.
fn overwritten_before(fds: &[FdAction], i: usize) -> bool {
    fds[..i].iter().any(|a| a.1 == fds[i].0 && a.0 != a.1)
}

/// Starts programs with `posix_spawn`; see [`Runtime::spawner`].
#[derive(Debug, Clone)]
pub struct Spawner {
    reset: SigSet,
    /// Each child leads a new process group ([`Spawner::own_groups`]).
    own_group: bool,
    /// The descriptor limit (soft, hard) a child of
    /// [`Spawner::fork_exec`] gets back ([`Spawner::descriptor_limit`]).
    nofile: Option<(u64, u64)>,
}

impl Spawner {
    /// Every child started by [`Spawner::fork_exec`] gets this descriptor
    /// limit back before its exec: for a parent that raised its own
    /// ([`raise_descriptor_limit`]) and must not pass that on.
    pub fn descriptor_limit(mut self, limit: (u64, u64)) -> Self {
        self.nofile = Some(limit);
        self
    }

    /// Every child of this spawner starts a process group of its own
    /// (setpgid(0, 0) before its exec), so that a signal to the parent's
    /// group (a terminal's interrupt) does not reach it.
    pub fn own_groups(mut self) -> Self {
        self.own_group = true;
        self
    }

    /// Starts `prog` (its candidates tried as `pathexec` does: ENOENT moves
    /// on; EACCES, EPERM and EISDIR are remembered; any other error stops)
    /// after changing to `cwd` and carrying out `fds`. The error is the one
    /// pathexec would report, or the descriptor plan's own.
    pub fn spawn(
        &self,
        prog: &Prepared,
        fds: &[FdAction],
        cwd: Option<&CString>,
    ) -> Result<Pid, Errno> {
        self.make_plan(fds, cwd, true)?.spawn(prog, prog.env())
    }

    /// A plan kept for many spawns whose descriptors have the same numbers
    /// each time (tcpserver: the connection is always fd 0), made once:
    /// the attributes and file actions are not built again for each start.
    /// No step may read a descriptor that an earlier one replaces (EINVAL).
    pub fn plan(&self, fds: &[FdAction]) -> Result<SpawnPlan, Errno> {
        self.make_plan(fds, None, false)
    }

    fn make_plan(
        &self,
        fds: &[FdAction],
        cwd: Option<&CString>,
        copy: bool,
    ) -> Result<SpawnPlan, Errno> {
        let mut attr = PosixSpawnAttr::init()?;
        let mut flags =
            PosixSpawnFlags::POSIX_SPAWN_SETSIGDEF | PosixSpawnFlags::POSIX_SPAWN_SETSIGMASK;
        if self.own_group {
            flags |= PosixSpawnFlags::POSIX_SPAWN_SETPGROUP;
            attr.set_pgroup(Pid::from_raw(0))?;
        }
        attr.set_flags(flags)?;
        // The C library's internal signals too: glibc's posix_spawn would
        // leave them ignored in the program.
        attr.set_sigdefault(&sys::with_internal_signals(&self.reset))?;
        attr.set_sigmask(&SigSet::empty())?;
        let mut actions = PosixSpawnFileActions::init()?;
        if let Some(dir) = cwd {
            sys::spawn_add_chdir(&mut actions, dir)?;
        }
        // A source that an earlier step of the plan overwrites is first
        // copied to 10 or above (close-on-exec, closed again after the
        // spawn).
        let mut copies = Vec::new();
        for (i, &FdAction(from, to)) in fds.iter().enumerate() {
            let from = if overwritten_before(fds, i) {
                if !copy {
                    return Err(Errno::EINVAL);
                }
                let c = sys::dup_inherited(from)?;
                let raw = std::os::fd::AsRawFd::as_raw_fd(&c);
                copies.push(c);
                raw
            } else {
                from
            };
            sys::spawn_add_dup2(&mut actions, from, to)?;
        }
        Ok(SpawnPlan {
            attr,
            actions,
            chdir: cwd.is_some(),
            _copies: copies,
        })
    }
}

/// Signal reset and descriptor plan, ready for `posix_spawn`
/// ([`Spawner::plan`]).
#[derive(Debug)]
pub struct SpawnPlan {
    attr: PosixSpawnAttr,
    actions: PosixSpawnFileActions,
    /// Whether the plan changes directory (a relative path is then the
    /// child's, not ours).
    chdir: bool,
    /// Copies the plan reads from, closed with it.
    _copies: Vec<std::os::fd::OwnedFd>,
}

impl SpawnPlan {
    /// Starts `prog` with `env`, its candidates tried as
    /// [`Spawner::spawn`] does.
    ///
    /// A candidate of a `$PATH` search that does not exist is passed over
    /// after a stat, without a spawn: each spawn that fails is a process
    /// made and reaped (on one CPU, tcpserver served `echo` found in the
    /// fourth directory of `$PATH` 12% slower than `/usr/bin/echo`, and
    /// below the C one, whose child tries each with an execve).
    pub fn spawn<E: AsRef<CStr>>(&self, prog: &Prepared, env: &[E]) -> Result<Pid, Errno> {
        let mut remembered = None;
        let searching = prog.candidates().len() > 1;
        for c in prog.candidates() {
            let ours = !self.chdir || c.to_bytes().first() == Some(&b'/');
            if searching && ours && matches!(nix::sys::stat::stat(c.as_c_str()), Err(Errno::ENOENT))
            {
                continue;
            }
            match nix::spawn::posix_spawn(c.as_c_str(), &self.actions, &self.attr, prog.argv(), env)
            {
                Ok(pid) => return Ok(pid),
                Err(Errno::ENOENT) => {}
                Err(e @ (Errno::EACCES | Errno::EPERM | Errno::EISDIR)) => remembered = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(remembered.unwrap_or(Errno::ENOENT))
    }
}

impl Spawner {
    /// [`Spawner::spawn`] with fork + exec: the parent goes on as soon as
    /// the child exists, without waiting for its exec, so that a burst of
    /// starts (svscan bringing up a tree) execs on every CPU at once. The
    /// child carries out the same plan, then reports its own failure with
    /// `report` (the original programs' child messages) and exits 111.
    pub fn fork_exec(
        &self,
        prog: &Prepared,
        fds: &[FdAction],
        cwd: Option<&CString>,
        report: &dyn Fn(Errno),
    ) -> Result<Pid, Errno> {
        self.fork_then(fds, cwd, report, || prog.exec())
    }

    /// [`Spawner::fork_exec`] with the exec itself given: `exec` runs in
    /// the child once the plan is carried out, and returns the error to
    /// report if it returns at all. What it works out (an environment) is
    /// then written in the child's pages, not in the parent's after the
    /// fork, each of which would be a copy-on-write fault for a parent
    /// that forks for every connection.
    pub fn fork_then(
        &self,
        fds: &[FdAction],
        cwd: Option<&CString>,
        report: &dyn Fn(Errno),
        exec: impl FnOnce() -> Errno,
    ) -> Result<Pid, Errno> {
        match sys::fork()? {
            sys::Forked::Parent(pid) => {
                if self.own_group {
                    // Also here, so that the group exists when this
                    // returns, whichever of the two runs first; the
                    // child may have exec'd already (EACCES): then it did.
                    let _ = nix::unistd::setpgid(pid, pid);
                }
                Ok(pid)
            }
            sys::Forked::Child => {
                if self.own_group {
                    let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
                }
                for sig in self.reset.iter() {
                    sys::default_signal(sig);
                }
                sys::default_internal_signals();
                let _ = signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
                if let Some(limit) = self.nofile {
                    set_descriptor_limit(limit);
                }
                let mut moved = [-1; MAX_WATCH];
                for (i, &FdAction(from, _)) in fds.iter().enumerate().take(MAX_WATCH) {
                    moved[i] = if overwritten_before(fds, i) {
                        match sys::dup_inherited(from) {
                            Ok(c) => std::os::fd::IntoRawFd::into_raw_fd(c),
                            Err(e) => {
                                report(e);
                                sys::exit_now(diag::EXIT_TEMP)
                            }
                        }
                    } else {
                        from
                    };
                }
                for (i, &FdAction(_, to)) in fds.iter().enumerate().take(MAX_WATCH) {
                    if let Err(e) = sys::dup_raw_onto(moved[i], to) {
                        report(e);
                        sys::exit_now(diag::EXIT_TEMP)
                    }
                }
                if let Some(dir) = cwd {
                    if let Err(e) = nix::unistd::chdir(dir.as_c_str()) {
                        report(e);
                        sys::exit_now(diag::EXIT_TEMP)
                    }
                }
                let e = exec();
                report(e);
                sys::exit_now(diag::EXIT_TEMP)
            }
        }
    }
}

/// Reaps children and says whose each one was.
#[derive(Debug)]
pub struct Reaper<O> {
    owners: HashMap<i32, O>,
}

impl<O> Default for Reaper<O> {
    fn default() -> Self {
        Reaper {
            owners: HashMap::new(),
        }
    }
}

impl<O> Reaper<O> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Room for `n` children reserved now, so that tracking them later does
    /// not allocate (a server under a tight memory limit).
    pub fn with_capacity(n: usize) -> Self {
        Reaper {
            owners: HashMap::with_capacity(n),
        }
    }

    /// Room for `n` more children, or false when the memory left cannot
    /// give it (then nothing changed): a daemon that grows with its work
    /// asks before it starts more.
    pub fn try_reserve(&mut self, n: usize) -> bool {
        sys::fallible(|| self.owners.try_reserve(n)).is_ok()
    }

    /// `pid` belongs to `owner` until it is reaped.
    pub fn adopt(&mut self, pid: Pid, owner: O) {
        self.owners.insert(pid.as_raw(), owner);
    }

    /// Children adopted and not reaped yet.
    pub fn len(&self) -> usize {
        self.owners.len()
    }

    pub fn is_empty(&self) -> bool {
        self.owners.is_empty()
    }

    pub fn owner(&self, pid: Pid) -> Option<&O> {
        self.owners.get(&pid.as_raw())
    }

    pub fn owners(&self) -> impl Iterator<Item = (Pid, &O)> {
        self.owners.iter().map(|(&p, o)| (Pid::from_raw(p), o))
    }

    /// One exited child, if any (never blocks): its pid, its owner (`None`
    /// for a child nobody adopted) and how it ended.
    pub fn reap(&mut self) -> Option<(Pid, Option<O>, Ended)> {
        loop {
            match sys::wait_raw(None, false) {
                Ok(None) => return None,
                Ok(Some((pid, status))) => {
                    let ended = Ended(status);
                    // (Without WUNTRACED or WCONTINUED only ends come back.)
                    if ended.code().is_some() || ended.signal().is_some() {
                        return Some((pid, self.owners.remove(&pid.as_raw()), ended));
                    }
                }
                Err(Errno::EINTR) => {}
                Err(_) => return None,
            }
        }
    }
}

/// How a child ended: the raw status `wait` gives, which the C programs
/// keep and print (`end PID status N`). Any signal number fits, the
/// real-time ones included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended(pub i32);

impl Ended {
    /// Waits for `pid` (blocking; EINTR is the caller's).
    pub fn wait_for(pid: Pid) -> Result<Ended, Errno> {
        match sys::wait_raw(Some(pid), true)? {
            Some((_, status)) => Ok(Ended(status)),
            None => Err(Errno::EAGAIN),
        }
    }

    /// The exit code, if it exited.
    pub fn code(self) -> Option<i32> {
        nix::libc::WIFEXITED(self.0).then(|| nix::libc::WEXITSTATUS(self.0))
    }

    /// The number of the signal that killed it, if one did.
    pub fn signal(self) -> Option<i32> {
        nix::libc::WIFSIGNALED(self.0).then(|| nix::libc::WTERMSIG(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ended_reads_the_raw_status() {
        assert_eq!(
            (Ended(3 << 8).code(), Ended(3 << 8).signal()),
            (Some(3), None)
        );
        assert_eq!((Ended(0).code(), Ended(0).signal()), (Some(0), None));
        assert_eq!((Ended(9).code(), Ended(9).signal()), (None, Some(9)));
        // A core dump, and a real-time signal.
        assert_eq!(
            (Ended(0x80 | 11).code(), Ended(0x80 | 11).signal()),
            (None, Some(11))
        );
        assert_eq!((Ended(37).code(), Ended(37).signal()), (None, Some(37)));
    }

    #[test]
    fn ignored_reads_the_disposition_now() {
        assert!(!ignored(Signal::SIGUSR2));
        sys::ignore_signal(Signal::SIGUSR2);
        assert!(ignored(Signal::SIGUSR2));
        sys::default_signal(Signal::SIGUSR2);
        assert!(!ignored(Signal::SIGUSR2));
    }

    #[test]
    fn a_source_is_copied_only_when_an_earlier_step_overwrites_it() {
        // tcpserver's plan: the socket on 0 stays, and is copied onto 1.
        let plan = [FdAction(0, 0), FdAction(0, 1)];
        assert!(!overwritten_before(&plan, 0) && !overwritten_before(&plan, 1));
        // A swap: the second step must read the first one's target from
        // a copy.
        let swap = [FdAction(3, 4), FdAction(4, 3)];
        assert!(!overwritten_before(&swap, 0) && overwritten_before(&swap, 1));
        // multilog's processor: 4 is read before a later step replaces it.
        let ml = [
            FdAction(6, 0),
            FdAction(4, 1),
            FdAction(7, 4),
            FdAction(8, 5),
        ];
        assert!((0..4).all(|i| !overwritten_before(&ml, i)));
    }

    #[test]
    fn timers_earliest_first_one_per_kind() {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum K {
            A,
            B,
        }
        let t0 = Instant::now();
        let mut t = Timers::new();
        t.set(K::A, t0 + Duration::from_secs(5));
        t.set(K::B, t0 + Duration::from_secs(2));
        t.set(K::A, t0 + Duration::from_secs(1));
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(t.expired(t0), None);
        assert_eq!(t.expired(t0 + Duration::from_secs(1)), Some(K::A));
        assert_eq!(t.expired(t0 + Duration::from_secs(1)), None);
        t.cancel(K::B);
        assert_eq!(t.next(), None);
    }

    #[test]
    fn backoff_warns_once_and_grows_to_its_bound() {
        let t0 = Instant::now();
        let mut b = Backoff::new();
        assert!(b.failed(t0));
        assert!(b.waiting(t0));
        assert_eq!(b.deadline(), Some(t0 + BACKOFF_MIN));
        let mut warned = 0;
        for _ in 0..20 {
            warned += usize::from(b.failed(t0));
        }
        assert_eq!(warned, 0);
        assert_eq!(b.deadline(), Some(t0 + BACKOFF_MAX));
        b.succeeded();
        assert!(!b.waiting(t0));
        assert!(b.failed(t0));
    }
}

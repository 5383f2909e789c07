//! `svscan [DIR]`: start and keep alive one `supervise` per subdirectory of
//! DIR (spec/svscan.md).
//!
//! Services are identified by device and inode, so renames and symlinks do
//! not create duplicates. For `S/log`, svscan runs `supervise S` with stdout
//! on a pipe and `supervise log` (in S) with stdin on the same pipe; svscan
//! holds both ends for as long as it knows the service, so either side can be
//! restarted without losing what is in the pipe. A supervise that exits is
//! restarted at the next scan, under the name its directory has then (a
//! renamed directory); the supervisors of a removed directory are left
//! alone, as by the original.
//!
//! Scans happen at start, then every [`SCAN_INTERVAL`]; SIGALRM or SIGHUP
//! trigger one at once. The loop is the common runtime's: it waits on the
//! signals (SIGCHLD: reap; SIGALRM/SIGHUP: rescan) with the next scan as
//! deadline, starts each supervise with the spawner (fork + exec), and the reaper says
//! which service each exit belongs to. Exit codes: 111 if DIR cannot be
//! entered or the loop cannot be set up; otherwise svscan runs until SIGTERM
//! or SIGINT.
//!
//! Shutdown (an extension, spec/extensions.md, docs/container.md): on
//! SIGTERM or SIGINT every service is told `dx`; a log service only once
//! its main service's supervise has exited, and then only `x`, after
//! which svscan closes its end of the pipe, so that the logger reads every
//! line to end of file and stops by itself. What has not exited after
//! `.svscan/timeout-shutdown` milliseconds (default 10000) is KILLed
//! (`./run`, by the pid in its status, then its supervise), and svscan
//! waits up to a second for them to be gone. Then `.svscan/finish` runs,
//! and svscan exits with the number in `.svscan/exitcode` (default 0).
//! A shutdown allocates nothing per service. As process 1 (a
//! container), svscan also reaps every orphan as it comes, and before it
//! exits sends TERM to every process left, waits as long again, then KILL.
//! As process 1, or as the foreground job of a terminal, it starts each
//! supervise in a process group of its own, so that a terminal's interrupt
//! (Ctrl-C) reaches svscan alone.

use std::collections::HashMap;
use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use common::diag::{self, errno_of};
use common::exec::Prepared;
use common::rt::{Disposition, FdAction, Reaper, Runtime, Spawner};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// Time between scans, as the original.
pub const SCAN_INTERVAL: Duration = Duration::from_secs(5);

/// Most services svscan keeps (a service with its log counts once). The
/// original stops at 1000. This bound, ten times that, only protects the
/// machine from a scan directory gone wild (a script creating directories in
/// a loop): each service costs at least two processes (supervise and its
/// `./run`), four with a log. Log pairs are also bounded by svscan's
/// descriptor limit (two per pipe), which svscan does not raise since every
/// service inherits it; past it, "unable to create pipe" warns each scan.
pub const MAX_SERVICES: usize = 10_000;

/// Free memory a new service needs beyond its entry: its name, the paths
/// and arguments of its supervisors' starts, a scan's directory entries.
const HEADROOM: usize = 16 * 1024;

/// Names at most this long get a log pair (the original's buffer).
const MAX_LOG_NAME: usize = 255;

/// One known service directory.
struct Service {
    /// The name it was last seen under in the scan directory (a renamed
    /// directory's supervise is started again under its new name, as by the
    /// original).
    name: OsString,
    pid: Option<Pid>,
    pidlog: Option<Pid>,
    /// Device and inode of `log` (through a symlink) when the entry was
    /// made: where the log's supervise runs.
    log_key: Option<(u64, u64)>,
    /// (read end, write end), for a log pair. Held for the entry's life.
    pipe: Option<(OwnedFd, OwnedFd)>,
    active: bool,
    /// At a shutdown: (main told, log told), then the `./run` processes
    /// KILLed past the time (main's, log's). Kept here, not in tables of
    /// its own: a shutdown allocates nothing per service, so it also ends
    /// a tree that filled the memory svscan may use.
    told: (bool, bool),
    killed: [Option<Pid>; 2],
}

/// Which service a supervise belongs to: its key, and whether it is the
/// log's.
type Owner = ((u64, u64), bool);

/// svscan's table, keyed by (device, inode).
struct Scanner {
    services: HashMap<(u64, u64), Service>,
    spawner: Spawner,
    /// The descriptor limit svscan started with: svscan raises its own
    /// when log pipes need more, every child gets this one back.
    limit: Option<(u64, u64)>,
    reaper: Reaper<Owner>,
    /// `supervise NAME`, prepared once (the PATH search and the
    /// environment): only NAME changes from one start to the next.
    supervise: Prepared,
}

pub fn main(args: &[OsString]) -> i32 {
    diag::set_program("svscan");
    if let Some(dir) = args.get(1) {
        if let Err(e) = std::env::set_current_dir(dir) {
            diag::fatal_sys(&[&"unable to chdir to ", dir], errno_of(&e));
        }
    }
    // The original catches none of these. One that svscan was started
    // with ignored (SIGINT and SIGQUIT for a background job of a script,
    // SIGHUP under nohup) stays ignored, by svscan and, as under the
    // original, by every supervise and service: caught here, each child
    // would get it back at its default.
    let table: Vec<_> = [
        Signal::SIGALRM,
        Signal::SIGHUP,
        Signal::SIGTERM,
        Signal::SIGINT,
    ]
    .into_iter()
    .filter(|&sig| !common::rt::ignored(sig))
    .chain([Signal::SIGCHLD])
    .map(|sig| (sig, Disposition::Catch))
    .collect();
    let mut rt =
        Runtime::new(&table).unwrap_or_else(|e| diag::fatal_sys(&[&"unable to create pipe"], e));

    // As process 1 (a container), or as the foreground job of a terminal,
    // each supervise leads a process group of its own: a terminal's
    // interrupt (Ctrl-C; `docker run -it`, with or without `--init`) goes
    // to the foreground group, svscan's, and must reach svscan alone, which
    // stops the tree in order; it would kill every supervise at once.
    // Otherwise (started by init, svscanboot or a service manager: no
    // terminal) they stay in svscan's group, as under the original: init
    // scripts stop a tree by signalling the group.
    let spawner = if std::process::id() == 1 || foreground_of_a_terminal() {
        rt.spawner().own_groups()
    } else {
        rt.spawner()
    };
    let limit = common::rt::descriptor_limit();
    let spawner = match limit {
        Some(l) => spawner.descriptor_limit(l),
        None => spawner,
    };
    let mut sc = Scanner {
        services: HashMap::new(),
        spawner,
        limit,
        reaper: Reaper::new(),
        supervise: Prepared::new(&[OsString::from("supervise"), OsString::from(".")], None),
    };
    loop {
        sc.reap();
        sc.scan();
        let next = Instant::now() + SCAN_INTERVAL;
        while Instant::now() < next {
            let wake = rt.wait(&[], Some(next));
            if wake.signal && rt.take(Signal::SIGCHLD) {
                sc.reap();
            }
            let (term, int) = (rt.take(Signal::SIGTERM), rt.take(Signal::SIGINT));
            if term || int {
                return sc.shutdown(&mut rt);
            }
            // Both signals are taken: one rescan answers them.
            let (alrm, hup) = (rt.take(Signal::SIGALRM), rt.take(Signal::SIGHUP));
            if alrm || hup {
                break;
            }
        }
    }
}

/// `.svscan/timeout-shutdown` when absent.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_millis(10_000);

/// The number, at most `max`, in a file of `.svscan/` (read bounded and
/// non-blocking); None when the file is absent. A file that cannot be
/// read or holds no such number is ignored with a warning, as supervise
/// ignores a bad setting of a service.
fn svscan_number(name: &str, max: u64) -> Option<u64> {
    let path = format!(".svscan/{name}");
    let buf = match common::file::read_bounded(&path, 32) {
        Ok(buf) => buf,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            diag::warn_sys(&[&"unable to read ", &path], errno_of(&e));
            return None;
        }
    };
    let n = std::str::from_utf8(&buf)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .filter(|&n| n <= max);
    if n.is_none() {
        diag::warn(&[&"ignoring ", &path, &": invalid value"]);
    }
    n
}

/// Writes control bytes to the supervise of `dir`; false if no supervise
/// listens there (yet).
fn tell(dir: &OsStr, bytes: &[u8]) -> bool {
    use std::io::Write;
    let mut p = dir.to_os_string();
    p.push("/supervise/control");
    match common::control::open_fifo_writer(std::path::Path::new(&p)) {
        common::control::Open::Running(mut f) => f.write_all(bytes).is_ok(),
        _ => false,
    }
}

/// The directory of the supervise `pid` of a service (of its log, with
/// `log`), for telling it to stop: its working directory through /proc,
/// which stays right when the service was renamed since the last scan, or
/// moved out of the scan directory (`mv /service/foo /service/.foo`, then a
/// shutdown before the `svc -dx`), once it is the directory (device and
/// inode) the supervise was started for: one just started may not have
/// entered it yet. Else the name of the last scan.
fn supervise_dir(pid: Pid, s: &Service, key: (u64, u64), log: bool) -> OsString {
    let cwd = format!("/proc/{pid}/cwd");
    let want = if log { s.log_key } else { Some(key) };
    let id = std::fs::metadata(&cwd).ok().map(|m| (m.dev(), m.ino()));
    if want.is_some() && id == want {
        return cwd.into();
    }
    let mut dir = s.name.clone();
    if log {
        dir.push("/log");
    }
    dir
}

/// Whether svscan's group is the foreground group of the terminal on its
/// stdin, stdout or stderr (a terminal's Ctrl-C would reach it).
fn foreground_of_a_terminal() -> bool {
    use std::os::fd::AsFd;
    let me = nix::unistd::getpgrp();
    [
        std::io::stdin().as_fd(),
        std::io::stdout().as_fd(),
        std::io::stderr().as_fd(),
    ]
    .into_iter()
    .any(|fd| nix::unistd::tcgetpgrp(fd) == Ok(me))
}

/// The pid of `./run` in the status of `dir`'s supervise, if up.
fn run_pid(dir: &OsStr) -> Option<Pid> {
    let mut p = dir.to_os_string();
    p.push("/supervise/status");
    let st = common::status::read(std::path::Path::new(&p))?;
    (st.pid != 0).then(|| Pid::from_raw(st.pid as i32))
}

/// Whether process `pid` exists and is not a zombie (a zombie holds no
/// files or memory any more). Without /proc, a process that cannot be
/// looked at counts as gone.
fn running(pid: Pid) -> bool {
    std::fs::read(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // The state follows the name, in parentheses that may nest.
        let after = stat
            .iter()
            .rposition(|&b| b == b')')
            .map_or(&[][..], |i| &stat[i + 1..]);
        !after.starts_with(b" Z") && !after.starts_with(b" X")
    })
}

impl Scanner {
    /// Brings every service down in order, then exits (see the module
    /// documentation). Returns the exit code.
    fn shutdown(&mut self, rt: &mut Runtime) -> i32 {
        let timeout = svscan_number("timeout-shutdown", u64::MAX)
            .map_or(SHUTDOWN_TIMEOUT, Duration::from_millis);
        let deadline = Instant::now() + timeout;
        loop {
            self.reap();
            for (key, s) in &mut self.services {
                if let (Some(pid), false) = (s.pid, s.told.0) {
                    s.told.0 = tell(&supervise_dir(pid, s, *key, false), b"dx");
                }
                if let (None, Some(pid), false) = (s.pid, s.pidlog, s.told.1) {
                    // The main service is gone: the log reads what is left
                    // in the pipe to end of file, then stops by itself. The
                    // `x` goes first: a logger that reached the end of file
                    // before its supervise had the `x` was started again
                    // (and a `./run` that truncates its file lost the lines).
                    s.told.1 = tell(&supervise_dir(pid, s, *key, true), b"x");
                    if s.told.1 {
                        s.pipe = None;
                    }
                }
            }
            let running = self
                .services
                .values()
                .any(|s| s.pid.is_some() || s.pidlog.is_some());
            if !running || Instant::now() >= deadline {
                break;
            }
            // Not yet listening supervisors are asked again shortly.
            let again = Instant::now() + Duration::from_millis(100);
            rt.wait(&[], Some(again.min(deadline)));
            rt.take(Signal::SIGCHLD);
        }
        // Past the time: KILL what is left, services first.
        for (key, s) in &mut self.services {
            for (i, (pid, log)) in [(s.pid, false), (s.pidlog, true)].into_iter().enumerate() {
                if let Some(pid) = pid {
                    s.killed[i] = run_pid(&supervise_dir(pid, s, *key, log));
                    if let Some(run) = s.killed[i] {
                        let _ = nix::sys::signal::kill(run, Signal::SIGKILL);
                    }
                    let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
                }
            }
        }
        // Up to a second for the supervisors to be reaped and the `./run`
        // processes KILLed to be gone: they are not svscan's children (but
        // as process 1, once orphaned), so no signal says when; they are
        // looked for in /proc every few milliseconds.
        let grace = Instant::now() + Duration::from_secs(1);
        loop {
            self.reap();
            let mut supervisors = false;
            let mut runs = false;
            for s in self.services.values_mut() {
                supervisors |= s.pid.is_some() || s.pidlog.is_some();
                for run in &mut s.killed {
                    if run.is_some_and(|p| !running(p)) {
                        *run = None;
                    }
                    runs |= run.is_some();
                }
            }
            if !(supervisors || runs) || Instant::now() >= grace {
                break;
            }
            let poll = Instant::now() + Duration::from_millis(5);
            rt.wait(&[], Some(if runs { poll.min(grace) } else { grace }));
            rt.take(Signal::SIGCHLD);
        }
        self.services.clear();
        self.run_finish(rt, timeout);
        if std::process::id() == 1 {
            self.last_processes(rt, timeout);
        }
        svscan_number("exitcode", 255).map_or(0, |n| n as i32)
    }

    /// Runs `.svscan/finish` if there is one, and waits for it (KILLed
    /// after `timeout`).
    fn run_finish(&mut self, rt: &mut Runtime, timeout: Duration) {
        if std::fs::metadata(".svscan/finish").is_err() {
            return;
        }
        // Started by posix_spawn, which cannot set a limit for the child:
        // svscan, which is ending, gives its own back first.
        if let Some(l) = self.limit {
            common::rt::set_descriptor_limit(l);
        }
        let prepared = Prepared::new(&[OsString::from("./.svscan/finish")], None);
        let pid = match self.spawner.spawn(&prepared, &[], None) {
            Ok(pid) => pid,
            Err(e) => return diag::warn_sys(&[&"unable to start .svscan/finish"], e),
        };
        self.reaper.adopt(pid, ((0, 0), false));
        let deadline = Instant::now() + timeout;
        let mut killed = false;
        loop {
            while let Some((p, _, _)) = self.reaper.reap() {
                if p == pid {
                    return;
                }
            }
            if Instant::now() >= deadline {
                if killed {
                    return;
                }
                let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
                killed = true;
            }
            rt.wait(
                &[],
                Some(deadline.max(Instant::now() + Duration::from_millis(10))),
            );
            rt.take(Signal::SIGCHLD);
        }
    }

    /// As process 1: TERM to every process left, a wait of `timeout` while
    /// reaping, then KILL.
    fn last_processes(&mut self, rt: &mut Runtime, timeout: Duration) {
        let all = Pid::from_raw(-1);
        let _ = nix::sys::signal::kill(all, Signal::SIGTERM);
        let _ = nix::sys::signal::kill(all, Signal::SIGCONT);
        let deadline = Instant::now() + timeout;
        for sig in [None, Some(Signal::SIGKILL)] {
            if let Some(sig) = sig {
                let _ = nix::sys::signal::kill(all, sig);
            }
            let until = if sig.is_some() {
                Instant::now() + Duration::from_secs(1)
            } else {
                deadline
            };
            loop {
                while self.reaper.reap().is_some() {}
                // No child left at all: done.
                if common::sys::wait_raw(None, false) == Err(Errno::ECHILD) {
                    return;
                }
                if Instant::now() >= until {
                    break;
                }
                rt.wait(&[], Some(until));
                rt.take(Signal::SIGCHLD);
            }
        }
    }

    /// Reaps exited children and forgets their pids.
    fn reap(&mut self) {
        while let Some((pid, owner, _)) = self.reaper.reap() {
            let Some((key, log)) = owner else { continue };
            if let Some(s) = self.services.get_mut(&key) {
                let slot = if log { &mut s.pidlog } else { &mut s.pid };
                if *slot == Some(pid) {
                    *slot = None;
                }
            }
        }
    }

    /// Whether the memory left holds one more service: its entry, its
    /// two supervisors in the reaper, and [`HEADROOM`] for what making it
    /// and starting them allocate.
    fn room_for_one_more(&mut self) -> bool {
        let table = common::sys::fallible(|| self.services.try_reserve(1)).is_ok();
        table
            && self.reaper.try_reserve(2)
            && common::sys::fallible(|| Vec::<u8>::new().try_reserve_exact(HEADROOM)).is_ok()
    }

    fn scan(&mut self) {
        for s in self.services.values_mut() {
            s.active = false;
        }
        let entries = match std::fs::read_dir(".") {
            Ok(d) => d,
            Err(e) => return diag::warn_sys(&[&"unable to read directory"], errno_of(&e)),
        };
        for entry in entries {
            match entry {
                Ok(e) => self.start(&e.file_name()),
                // The scan is abandoned, dead entries are kept (as the original).
                Err(e) => return diag::warn_sys(&[&"unable to read directory"], errno_of(&e)),
            }
        }
        self.services
            .retain(|_, s| s.active || s.pid.is_some() || s.pidlog.is_some());
    }

    fn start(&mut self, name: &OsStr) {
        if name.as_bytes().first() == Some(&b'.') {
            return;
        }
        let meta = match std::fs::metadata(name) {
            Ok(m) => m,
            Err(e) => return diag::warn_sys(&[&"unable to stat ", &name], errno_of(&e)),
        };
        if !meta.is_dir() {
            return;
        }
        let key = (meta.dev(), meta.ino());
        if !self.services.contains_key(&key) {
            // The table grows with the tree: under a memory limit, a
            // service with no room is not started (warned, tried again at
            // the next scan), and those that run stay supervised.
            if !self.room_for_one_more() {
                return diag::warn(&[&"unable to start ", &name, &": out of memory"]);
            }
            let Some(s) = new_service(name, self.services.len()) else {
                return;
            };
            self.services.insert(key, s);
        }
        let Some(s) = self.services.get_mut(&key) else {
            return;
        };
        if s.name.as_os_str() != name {
            s.name = name.to_os_string();
        }
        s.active = true;
        if s.pid.is_none() {
            match spawn_supervise(&self.spawner, &mut self.supervise, s, false) {
                Ok(pid) => {
                    s.pid = Some(pid);
                    self.reaper.adopt(pid, (key, false));
                }
                // No process could be made (the original's failed fork):
                // not the log either, until the next scan.
                Err(Errno::EAGAIN | Errno::ENOMEM) => return,
                // The original's child failed its exec; the log starts.
                Err(_) => {}
            }
        }
        if s.pipe.is_some() && s.pidlog.is_none() {
            s.pidlog = spawn_supervise(&self.spawner, &mut self.supervise, s, true).ok();
            if let Some(pid) = s.pidlog {
                self.reaper.adopt(pid, (key, true));
            }
        }
    }
}

/// A table entry for a new directory, with its log pipe if `NAME/log`
/// exists; `None` (after a warning) if it cannot be made now.
fn new_service(name: &OsStr, known: usize) -> Option<Service> {
    if known >= MAX_SERVICES {
        diag::warn(&[&"unable to start ", &name, &": running too many services"]);
        return None;
    }
    let mut log = false;
    let mut log_key = None;
    if name.len() <= MAX_LOG_NAME {
        let mut p = name.to_os_string();
        p.push("/log");
        match std::fs::metadata(&p) {
            Ok(m) => {
                log = true;
                log_key = m.is_dir().then(|| (m.dev(), m.ino()));
            }
            Err(e) if errno_of(&e) == Errno::ENOENT => {}
            Err(e) => {
                diag::warn_sys(&[&"unable to stat ", &p], errno_of(&e));
                return None;
            }
        }
    }
    let pipe = if log {
        let pipe = || nix::unistd::pipe2(OFlag::O_CLOEXEC);
        // Out of descriptors: two per log pipe, for as long as the service
        // is there, so the usual soft limit of 1024 would stop a tree at
        // about 500 logged services. The limit is raised (within the hard
        // one) and the pipe made again; supervise gets the old limit back.
        let made = match pipe() {
            Err(Errno::EMFILE) => match common::rt::descriptor_limit() {
                Some((soft, _))
                    if common::rt::raise_descriptor_limit(
                        soft.saturating_mul(2).max(soft.saturating_add(64)),
                    ) =>
                {
                    pipe()
                }
                _ => Err(Errno::EMFILE),
            },
            r => r,
        };
        match made {
            Ok(p) => Some(p),
            Err(e) => {
                diag::warn_sys(&[&"unable to create pipe for ", &name], e);
                return None;
            }
        }
    } else {
        None
    };
    Some(Service {
        name: name.to_os_string(),
        pid: None,
        pidlog: None,
        log_key,
        pipe,
        active: false,
        told: (false, false),
        killed: [None, None],
    })
}

/// Starts `supervise NAME` (or, for `log`, `supervise log` in NAME with
/// stdin on the pipe). Returns the pid, or the error after a warning.
fn spawn_supervise(
    spawner: &Spawner,
    prepared: &mut Prepared,
    s: &Service,
    log: bool,
) -> Result<Pid, Errno> {
    let name = &s.name;
    let shown = || {
        let mut shown = name.clone();
        if log {
            shown.push("/log");
        }
        shown
    };
    prepared.set_arg(1, if log { OsStr::new("log") } else { name });
    let fds: &[FdAction] = match &s.pipe {
        Some((r, _)) if log => &[FdAction(r.as_raw_fd(), 0)],
        Some((_, w)) => &[FdAction(w.as_raw_fd(), 1)],
        None => &[],
    };
    let cwd = if log {
        // A directory name read from the scan directory holds no NUL.
        Some(CString::new(name.as_bytes()).map_err(|_| Errno::EINVAL)?)
    } else {
        None
    };
    // fork + exec rather than posix_spawn: bringing up a tree, svscan goes
    // on to the next service while this one execs (bench/svscan.sh: with
    // posix_spawn, which waits for each exec, 200 services came up 1.3x
    // slower than with the C svscan). As the original, the child says why
    // it could not start supervise; a failed fork warns here.
    spawner
        .fork_exec(prepared, fds, cwd.as_ref(), &|e| {
            diag::warn_sys(&[&"unable to start supervise ", &shown()], e)
        })
        .inspect_err(|&e| diag::warn_sys(&[&"unable to fork for ", &shown()], e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_is_false_for_a_zombie_and_for_a_process_gone() {
        assert!(running(Pid::this()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = Pid::from_raw(child.id() as i32);
        // Not reaped yet: a zombie once it has exited.
        let zombie = Instant::now() + Duration::from_secs(10);
        while running(pid) {
            assert!(Instant::now() < zombie, "never became a zombie");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
        child.wait().unwrap();
        assert!(!running(pid));
    }
}

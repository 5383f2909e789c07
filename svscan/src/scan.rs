//! `svscan [DIR]`: start and keep alive one `supervise` per subdirectory of
//! DIR (spec/svscan.md).
//!
//! Services are identified by device and inode, so renames and symlinks do
//! not create duplicates. For `S/log`, svscan runs `supervise S` with stdout
//! on a pipe and `supervise log` (in S) with stdin on the same pipe; svscan
//! holds both ends for as long as it knows the service, so either side can be
//! restarted without losing what is in the pipe. A supervise that exits is
//! restarted at the next scan; the supervisors of a removed directory are
//! left alone, as by the original.
//!
//! Scans happen at start, then every [`SCAN_INTERVAL`]; SIGALRM or SIGHUP
//! trigger one at once. The loop never sleeps blocking: it polls two
//! self-pipes (SIGCHLD: reap; SIGALRM/SIGHUP: rescan) with the next scan as
//! deadline. Exit codes: 111 if DIR cannot be entered or the loop cannot be
//! set up; otherwise svscan never exits.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use common::diag::{self, errno_of};
use common::exec::Prepared;
use common::selfpipe::SelfPipe;
use common::sys::{self, Forked};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{self, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
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

/// Names at most this long get a log pair (the original's buffer).
const MAX_LOG_NAME: usize = 255;

/// One known service directory.
struct Service {
    /// The name it was first seen under.
    name: OsString,
    pid: Option<Pid>,
    pidlog: Option<Pid>,
    /// (read end, write end), for a log pair. Held for the entry's life.
    pipe: Option<(OwnedFd, OwnedFd)>,
    active: bool,
}

/// svscan's table, keyed by (device, inode).
struct Scanner {
    services: HashMap<(u64, u64), Service>,
}

pub fn main(args: &[OsString]) -> i32 {
    diag::set_program("svscan");
    if let Some(dir) = args.get(1) {
        if let Err(e) = std::env::set_current_dir(dir) {
            diag::fatal_sys(&[&"unable to chdir to ", dir], errno_of(&e));
        }
    }
    let pipe = |sigs: &[Signal]| {
        SelfPipe::new(sigs).unwrap_or_else(|e| diag::fatal_sys(&[&"unable to create pipe"], e))
    };
    let mut chld_r = pipe(&[Signal::SIGCHLD]);
    let mut scan_r = pipe(&[Signal::SIGALRM, Signal::SIGHUP]);
    let mut set = SigSet::empty();
    for s in [Signal::SIGCHLD, Signal::SIGALRM, Signal::SIGHUP] {
        set.add(s);
    }
    let _ = signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None);

    let mut sc = Scanner {
        services: HashMap::new(),
    };
    loop {
        sc.reap();
        sc.scan();
        let next = Instant::now() + SCAN_INTERVAL;
        loop {
            let left = next.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
            let mut fds = [
                PollFd::new(chld_r.as_fd(), PollFlags::POLLIN),
                PollFd::new(scan_r.as_fd(), PollFlags::POLLIN),
            ];
            if nix::poll::poll(
                &mut fds,
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
            )
            .is_err()
            {
                continue;
            }
            let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            let (chld, rescan) = (ready(&fds[0]), ready(&fds[1]));
            if chld {
                chld_r.drain();
                sc.reap();
            }
            if rescan {
                scan_r.drain();
                break;
            }
        }
    }
}

impl Scanner {
    /// Reaps exited children and forgets their pids.
    fn reap(&mut self) {
        loop {
            match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => return,
                Ok(ws) => {
                    let Some(pid) = ws.pid() else { continue };
                    for s in self.services.values_mut() {
                        if s.pid == Some(pid) {
                            s.pid = None;
                        }
                        if s.pidlog == Some(pid) {
                            s.pidlog = None;
                        }
                    }
                }
                Err(Errno::EINTR) => {}
                Err(_) => return,
            }
        }
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
            let Some(s) = new_service(name, self.services.len()) else {
                return;
            };
            self.services.insert(key, s);
        }
        let Some(s) = self.services.get_mut(&key) else {
            return;
        };
        s.active = true;
        if s.pid.is_none() {
            match spawn_supervise(s, false) {
                Some(pid) => s.pid = Some(pid),
                None => return,
            }
        }
        if s.pipe.is_some() && s.pidlog.is_none() {
            s.pidlog = spawn_supervise(s, true);
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
    if name.len() <= MAX_LOG_NAME {
        let mut p = name.to_os_string();
        p.push("/log");
        match std::fs::metadata(&p) {
            Ok(_) => log = true,
            Err(e) if errno_of(&e) == Errno::ENOENT => {}
            Err(e) => {
                diag::warn_sys(&[&"unable to stat ", &p], errno_of(&e));
                return None;
            }
        }
    }
    let pipe = if log {
        match nix::unistd::pipe2(OFlag::O_CLOEXEC) {
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
        pipe,
        active: false,
    })
}

/// Forks `supervise NAME` (or, for `log`, `supervise log` in NAME with stdin
/// on the pipe). Returns the pid, or `None` after a warning.
fn spawn_supervise(s: &Service, log: bool) -> Option<Pid> {
    let name = &s.name;
    let mut shown = name.clone();
    if log {
        shown.push("/log");
    }
    let target: &OsStr = if log { OsStr::new("log") } else { name };
    let argv = [OsString::from("supervise"), target.to_os_string()];
    let prepared = Prepared::new(&argv, None);
    match sys::fork() {
        Err(e) => {
            diag::warn_sys(&[&"unable to fork for ", &shown], e);
            None
        }
        Ok(Forked::Parent(pid)) => Some(pid),
        Ok(Forked::Child) => {
            let child_fail = |what: &[&dyn diag::Part], e: Errno| -> ! {
                diag::warn_sys(what, e);
                sys::exit_now(diag::EXIT_TEMP)
            };
            if let Some((r, w)) = &s.pipe {
                let moved = if log {
                    nix::unistd::dup2_stdin(r)
                } else {
                    nix::unistd::dup2_stdout(w)
                };
                if let Err(e) = moved {
                    child_fail(&[&"unable to set up descriptors for ", &shown], e);
                }
            }
            if log {
                if let Err(e) = nix::unistd::chdir(name.as_os_str()) {
                    child_fail(&[&"unable to switch to ", name], e);
                }
            }
            sys::default_signal(Signal::SIGPIPE);
            let e = prepared.exec();
            child_fail(&[&"unable to start supervise ", &shown], e)
        }
    }
}

//! The supervise program: `supervise DIR`.
//!
//! Owns `DIR/supervise/{lock,control,ok,status,status.new}` (spec/supervise.md).
//! Exit codes: 0 after `x` once the service is down, 100 usage, 111 any
//! start-up error. After start-up nothing is fatal: failures warn and the
//! loop goes on.
//!
//! The loop is the common runtime's: it waits on the signals (SIGCHLD) and
//! the control FIFO with the state machine's deadline; it never sleeps.
//! `./run` is started with posix_spawn; the reaper hands its exit to the
//! state machine.

use std::ffi::{OsStr, OsString};
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::time::Instant;

use common::control::{self, Command};
use common::diag::{self, errno_of};
use common::exec::Prepared;
use common::rt::{Backoff, Disposition, Reaper, Runtime, Spawner};
use common::status::{self, WriteError};
use common::tai::Tai64n;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::poll::PollFlags;
use nix::sys::signal::{self, Signal};
use nix::sys::stat::Mode;
use nix::unistd::Pid;

use crate::machine::{Action, Event, Now, State};

/// Longest `supervise` symlink target the Debian patch reads (its buffer).
const READLINK_MAX: usize = 256;

/// How many control bytes one read takes from the FIFO.
const CONTROL_CHUNK: usize = 64;

struct Supervise {
    /// DIR as given, for messages.
    dir: OsString,
    state: State,
    started: Instant,
    rt: Runtime,
    spawner: Spawner,
    reaper: Reaper<()>,
    control: File,
    /// A control FIFO that keeps failing (replaced by a regular file, say)
    /// is read again only after a deadline.
    control_backoff: Backoff,
    /// Held open so the control FIFO never reports end of file.
    _control_writer: File,
    /// Held open (never read) so that `svok` and `svc` find a reader.
    _ok: File,
    /// The exclusive flock on supervise/lock, held for life.
    _lock: Flock<File>,
}

/// Entry point: `args` is the whole argv.
pub fn main(args: &[OsString]) -> i32 {
    diag::set_program("supervise");
    if args.len() != 2 {
        diag::usage("supervise dir");
    }
    let dir = args[1].clone();
    let d: &OsStr = &dir;

    // SIGCHLD may arrive blocked from whoever started us: the runtime
    // unblocks it, and `./run` gets an empty mask as from the original.
    let rt = Runtime::new(&[(Signal::SIGCHLD, Disposition::Catch)])
        .unwrap_or_else(|e| diag::fatal_sys(&[&"unable to create pipe for ", &d], e));

    if let Err(e) = std::env::set_current_dir(d) {
        diag::fatal_sys(&[&"unable to chdir to ", &d], errno_of(&e));
    }

    let normally_down = match std::fs::metadata(control::DOWN) {
        Ok(_) => true,
        Err(e) if e.kind() == ErrorKind::NotFound => false,
        Err(e) => diag::fatal_sys(&[&"unable to stat ", &d, &"/down"], errno_of(&e)),
    };

    make_supervise_dir();

    let lock = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(control::LOCK)
        .map_err(|e| errno_of(&e))
        .and_then(|f| Flock::lock(f, FlockArg::LockExclusiveNonblock).map_err(|(_, e)| e))
        .unwrap_or_else(|e| diag::fatal_sys(&[&"unable to acquire ", &d, &"/supervise/lock"], e));

    let fifo_mode = Mode::from_bits_truncate(0o600);
    let _ = nix::unistd::mkfifo(control::CONTROL, fifo_mode);
    let control = open_fifo(false)
        .unwrap_or_else(|e| diag::fatal_sys(&[&"unable to read ", &d, &"/supervise/control"], e));
    let control_writer = open_fifo(true)
        .unwrap_or_else(|e| diag::fatal_sys(&[&"unable to write ", &d, &"/supervise/control"], e));

    let started = Instant::now();
    let now = Now {
        mono: started.elapsed(),
        wall: Tai64n::now(),
    };
    let state = State::new(normally_down, now);
    // The status exists before `ok` does: whoever sees supervise alive
    // finds a status file.
    announce(&dir, &state);

    let _ = nix::unistd::mkfifo(control::OK, fifo_mode);
    let ok = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(control::OK)
        .unwrap_or_else(|e| {
            diag::fatal_sys(&[&"unable to read ", &d, &"/supervise/ok"], errno_of(&e))
        });

    let mut sv = Supervise {
        dir: dir.clone(),
        state,
        started,
        spawner: rt.spawner(),
        rt,
        reaper: Reaper::with_capacity(1),
        control,
        control_backoff: Backoff::new(),
        _control_writer: control_writer,
        _ok: ok,
        _lock: lock,
    };
    let now = sv.now();
    let actions = sv.state.boot(now);
    if sv.perform(actions) {
        return sv.finish();
    }
    sv.run()
}

/// `mkdir supervise`, with the Debian patch for a `supervise` symlink whose
/// target is missing: create the target (one level, mode 0700).
fn make_supervise_dir() {
    let mut b = DirBuilder::new();
    b.mode(0o700);
    if b.create(control::SUPERVISE_DIR).is_ok() {
        return;
    }
    match std::fs::read_link(control::SUPERVISE_DIR) {
        Ok(target) => {
            if target.as_os_str().len() >= READLINK_MAX {
                // The C code's 256-byte buffer fills up: EOVERFLOW.
                readlink_fatal(Errno::EOVERFLOW);
            }
            let _ = b.create(&target);
        }
        Err(e) => match errno_of(&e) {
            Errno::ENOENT | Errno::EINVAL => {}
            e => readlink_fatal(e),
        },
    }
}

/// The Debian patch's message, which has no program prefix.
fn readlink_fatal(e: Errno) -> ! {
    let mut v = b"unable to readlink ./supervise: ".to_vec();
    v.extend_from_slice(diag::errstr(e).as_bytes());
    v.push(b'\n');
    diag::write_line(&v);
    std::process::exit(diag::EXIT_TEMP)
}

fn open_fifo(write: bool) -> Result<File, Errno> {
    OpenOptions::new()
        .read(!write)
        .write(write)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(control::CONTROL)
        .map_err(|e| errno_of(&e))
}

/// Writes the status record; failures warn and are otherwise ignored.
fn announce(dir: &OsStr, state: &State) {
    let bytes = state.status().encode();
    let sup = Path::new(control::SUPERVISE_DIR);
    match status::write_atomic(sup, &bytes) {
        Ok(()) => {}
        Err(WriteError::Open(e)) => {
            diag::warn_sys(&[&"unable to open ", &dir, &"/supervise/status.new"], e)
        }
        Err(WriteError::Write(Some(e))) => {
            diag::warn_sys(&[&"unable to write ", &dir, &"/supervise/status.new"], e)
        }
        Err(WriteError::Write(None)) => diag::warn(&[
            &"unable to write ",
            &dir,
            &"/supervise/status.new: partial write",
        ]),
        Err(WriteError::Rename(e)) => diag::warn_sys(
            &[
                &"unable to rename ",
                &dir,
                &"/supervise/status.new to status",
            ],
            e,
        ),
    }
}

impl Supervise {
    fn now(&self) -> Now {
        Now {
            mono: self.started.elapsed(),
            wall: Tai64n::now(),
        }
    }

    /// Feeds one event to the state machine and carries out its actions.
    /// Returns true when supervise must exit.
    fn handle(&mut self, ev: Event) -> bool {
        let now = self.now();
        let actions = self.state.step(now, ev);
        self.perform(actions)
    }

    fn perform(&mut self, actions: Vec<Action>) -> bool {
        for a in actions {
            match a {
                Action::Announce => announce(&self.dir, &self.state),
                Action::Signal(pid, sig) => {
                    let _ = signal::kill(Pid::from_raw(pid as i32), sig);
                }
                Action::Start => {
                    // argv exactly `["./run"]`, no PATH search; prepared at
                    // each start (at most once a second) rather than kept,
                    // so that an idle supervise holds no copy of its
                    // environment.
                    let run = Prepared::new(&[OsString::from("./run")], None);
                    let ev = match self.spawner.spawn(&run, &[], None) {
                        Ok(pid) => {
                            self.reaper.adopt(pid, ());
                            Event::Started(pid.as_raw() as u32)
                        }
                        // No process could be made: the fork failure of
                        // the original, and its back-off.
                        Err(e @ (Errno::EAGAIN | Errno::ENOMEM)) => {
                            diag::warn_sys(
                                &[&"unable to fork for ", &self.dir, &", sleeping 60 seconds"],
                                e,
                            );
                            Event::ForkFailed
                        }
                        // The original's child says this, then exits 111.
                        Err(e) => {
                            diag::write_line(&diag::line(
                                ": fatal: ",
                                &[&"unable to start ", &self.dir, &"/run"],
                                Some(e),
                            ));
                            Event::RunFailed
                        }
                    };
                    if self.handle(ev) {
                        return true;
                    }
                }
                Action::Exit => return true,
            }
        }
        false
    }

    fn run(mut self) -> i32 {
        // Unlike the original, no status write on entering the loop: every
        // change has been announced when it happened.
        loop {
            let now = Instant::now();
            let mut deadline = self.state.deadline().map(|t| self.started + t);
            let control_ok = !self.control_backoff.waiting(now);
            if !control_ok {
                deadline = min_deadline(deadline, self.control_backoff.deadline());
            }
            let control = self.control.as_fd();
            let watch = [(control, PollFlags::POLLIN)];
            let wake = self
                .rt
                .wait(if control_ok { &watch } else { &[] }, deadline);
            if self.reap() {
                break;
            }
            if self
                .state
                .deadline()
                .is_some_and(|t| self.started.elapsed() >= t)
                && self.handle(Event::Timer)
            {
                break;
            }
            if control_ok && wake.ready(0) && self.read_commands() {
                break;
            }
        }
        self.finish()
    }

    fn finish(self) -> i32 {
        announce(&self.dir, &self.state);
        0
    }

    /// Reaps every exited child; true if supervise must exit.
    fn reap(&mut self) -> bool {
        self.rt.take(Signal::SIGCHLD);
        while let Some((pid, _, _)) = self.reaper.reap() {
            if self.handle(Event::Exited(pid.as_raw() as u32)) {
                return true;
            }
        }
        false
    }

    /// Reads what is queued in the control FIFO and acts on each byte in
    /// order; true if supervise must exit.
    fn read_commands(&mut self) -> bool {
        let mut buf = [0u8; CONTROL_CHUNK];
        let n = match self.control.read(&mut buf) {
            Ok(0) => {
                // Always readable and empty: not our FIFO any more (a regular
                // file in its place). Look again after a deadline, not in a
                // loop.
                if self.control_backoff.failed(Instant::now()) {
                    diag::warn(&[
                        &"unable to read ",
                        &self.dir,
                        &"/supervise/control: not a FIFO",
                    ]);
                }
                return false;
            }
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                return false
            }
            Err(e) => {
                if self.control_backoff.failed(Instant::now()) {
                    diag::warn_sys(
                        &[&"unable to read ", &self.dir, &"/supervise/control"],
                        errno_of(&e),
                    );
                }
                return false;
            }
        };
        self.control_backoff.succeeded();
        for &b in &buf[..n] {
            if let Some(c) = Command::from_byte(b) {
                if self.handle(Event::Command(c)) {
                    return true;
                }
            }
        }
        false
    }
}

fn min_deadline(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

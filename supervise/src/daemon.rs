//! The supervise program: `supervise DIR`.
//!
//! Owns `DIR/supervise/{lock,control,ok,status,status.new}` (spec/supervise.md).
//! Exit codes: 0 after `x` once the service is down, 100 usage, 111 any
//! start-up error. After start-up nothing is fatal: failures warn and the
//! loop goes on.
//!
//! The loop is the common runtime's: it waits on the signals (SIGCHLD), the
//! control FIFO and the readiness pipe with the state machine's deadline; it
//! never sleeps. `./run` and `./finish` are started with posix_spawn; the
//! reaper hands their exits to the state machine.
//!
//! The extensions (spec/extensions.md, docs/events.md): the files
//! `notification-fd`, `finish`, `timeout-finish`, `down-signal` and
//! `timeout-kill` are read when they are used (at each start, exit and `d`),
//! so an edit takes effect without a restart of supervise; the event
//! fifodir `supervise/event/` and the sidecar `supervise/xstatus` are kept
//! beside the original files, which stay byte for byte the original's.

use std::ffi::{OsStr, OsString};
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use common::control::{self, Command};
use common::diag::{self, errno_of};
use common::exec::Prepared;
use common::fifodir;
use common::rt::{Backoff, Disposition, FdAction, Reaper, Runtime, Spawner};
use common::status::{self, WriteError};
use common::tai::Tai64n;
use common::xstatus;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::poll::PollFlags;
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use nix::unistd::Pid;

use crate::machine::{Action, Event, Now, Phase, State};

/// Longest `supervise` symlink target the Debian patch reads (its buffer).
const READLINK_MAX: usize = 256;

/// How many control bytes one read takes from the FIFO.
const CONTROL_CHUNK: usize = 64;

/// `timeout-finish` when the file is absent.
const FINISH_LIMIT: Duration = Duration::from_millis(5000);

/// Largest descriptor `notification-fd` may name.
const NOTIFY_FD_MAX: u64 = 1 << 20;

/// The longest configuration file read (`notification-fd`, `down-signal`...).
const CONFIG_MAX: usize = 64;

/// Whose a reaped child is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Child {
    Run,
    Finish,
}

struct Supervise {
    /// DIR as given, for messages.
    dir: OsString,
    state: State,
    started: Instant,
    rt: Runtime,
    spawner: Spawner,
    reaper: Reaper<Child>,
    control: File,
    /// The read end of the running `./run`'s notification pipe, until a
    /// line or end of file comes.
    notify: Option<File>,
    /// The sidecar as last written (or last tried, if `unwritten` says so).
    xstatus: Option<[u8; xstatus::LEN]>,
    /// Records whose last write failed (a full disk): written again on
    /// `records_backoff`'s deadline, so that once there is room again they
    /// say the state, not the one before the failure, without waiting for
    /// the next change.
    unwritten: Unwritten,
    records_backoff: Backoff,
    /// Whether `supervise/event/` exists to publish to.
    events: bool,
    /// A control FIFO that keeps failing (replaced by a regular file, say)
    /// is read again only after a deadline.
    control_backoff: Backoff,
    /// Held open so the control FIFO never reports end of file.
    _control_writer: File,
    /// Held open (never read) so that `svok` and `svc` find a reader.
    _ok: File,
    /// The exclusive flock on supervise/lock, and a record lock on it
    /// ([`record_lock`]), held for life.
    _lock: Flock<File>,
    /// Settings files warned about, with the value warned about: a
    /// service restarting every second warns once per bad value, not at
    /// each start.
    warned: std::cell::RefCell<Vec<(&'static str, String)>>,
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
        .and_then(|f| record_lock(&f).map(|()| f))
        .unwrap_or_else(|e| diag::fatal_sys(&[&"unable to acquire ", &d, &"/supervise/lock"], e));

    let fifo_mode = Mode::from_bits_truncate(0o600);
    let _ = nix::unistd::mkfifo(control::CONTROL, fifo_mode);
    let control = open_fifo(false)
        .unwrap_or_else(|e| diag::fatal_sys(&[&"unable to read ", &d, &"/supervise/control"], e));
    let control_writer = open_fifo(true)
        .unwrap_or_else(|e| diag::fatal_sys(&[&"unable to write ", &d, &"/supervise/control"], e));

    let events = match fifodir::make(Path::new(control::EVENT)) {
        Ok(()) => true,
        Err(e) => {
            diag::warn_sys(&[&"unable to create ", &d, &"/supervise/event"], e);
            false
        }
    };

    let started = Instant::now();
    let now = Now {
        mono: started.elapsed(),
        wall: Tai64n::now(),
    };
    let state = State::new(normally_down, now);
    // The status exists before `ok` does: whoever sees supervise alive
    // finds a status file.
    let status_written = announce(&dir, &state);

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
        reaper: Reaper::with_capacity(2),
        control,
        notify: None,
        xstatus: None,
        unwritten: Unwritten {
            status: !status_written,
            xstatus: false,
        },
        records_backoff: Backoff::new(),
        events,
        control_backoff: Backoff::new(),
        _control_writer: control_writer,
        _ok: ok,
        _lock: lock,
        warned: std::cell::RefCell::new(Vec::new()),
    };
    sv.publish(b's');
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

/// Which records are waiting to be written again.
#[derive(Debug, Clone, Copy, Default)]
struct Unwritten {
    status: bool,
    xstatus: bool,
}

impl Unwritten {
    fn any(self) -> bool {
        self.status || self.xstatus
    }
}

/// Writes the status record; a failure warns. Whether it was written.
fn announce(dir: &OsStr, state: &State) -> bool {
    let bytes = state.status().encode();
    match status::write_atomic(Path::new(control::SUPERVISE_DIR), &bytes) {
        Ok(()) => true,
        Err(e) => {
            warn_unwritten(dir, "status", e);
            false
        }
    }
}

/// The warning for a record `NAME` (written as `NAME.new`, renamed to
/// `NAME`) that could not be replaced: the original's lines for `status`,
/// the same lines for the sidecar.
fn warn_unwritten(dir: &OsStr, name: &str, e: WriteError) {
    let (d, n) = (&dir, &name);
    match e {
        WriteError::Open(e) => {
            diag::warn_sys(&[&"unable to open ", d, &"/supervise/", n, &".new"], e)
        }
        WriteError::Write(Some(e)) => {
            diag::warn_sys(&[&"unable to write ", d, &"/supervise/", n, &".new"], e)
        }
        WriteError::Write(None) => diag::warn(&[
            &"unable to write ",
            d,
            &"/supervise/",
            n,
            &".new: partial write",
        ]),
        WriteError::Rename(e) => diag::warn_sys(
            &[&"unable to rename ", d, &"/supervise/", n, &".new to ", n],
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
        let exit = self.perform(actions);
        self.sync_xstatus();
        exit
    }

    fn perform(&mut self, actions: Vec<Action>) -> bool {
        for a in actions {
            let ev = match a {
                Action::Announce => {
                    // The sidecar first: a reader that finds the new
                    // status then finds the sidecar of the same pid.
                    self.sync_xstatus();
                    let written = announce(&self.dir, &self.state);
                    self.unwritten.status = !written;
                    if !written {
                        self.records_backoff.failed(Instant::now());
                    }
                    continue;
                }
                Action::Signal(pid, sig) => {
                    let _ = common::sys::kill_number(Pid::from_raw(pid as i32), sig);
                    continue;
                }
                Action::Publish(b) => {
                    self.publish(b);
                    continue;
                }
                Action::Start => self.start(),
                Action::Finish(code, sig) => self.start_finish(code, sig),
                Action::Exit => return true,
            };
            if self.handle(ev) {
                return true;
            }
        }
        false
    }

    /// Starts `./run`, with the write end of a readiness pipe at the
    /// descriptor `notification-fd` names, if it names one.
    fn start(&mut self) -> Event {
        // argv exactly `["./run"]`, no PATH search; prepared at each start
        // (at most once a second) rather than kept, so that an idle
        // supervise holds no copy of its environment.
        let run = Prepared::new(&[OsString::from("./run")], None);
        self.notify = None;
        let pipe = match self.notification_fd() {
            Some(n) => match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
                Ok((r, w)) => Some((r, w, n)),
                Err(e) => {
                    diag::warn_sys(&[&"unable to create pipe for ", &self.dir], e);
                    None
                }
            },
            None => None,
        };
        let plan: Vec<FdAction> = pipe
            .iter()
            .map(|(_, w, n)| FdAction(w.as_raw_fd(), *n))
            .collect();
        match self.spawner.spawn(&run, &plan, None) {
            Ok(pid) => {
                self.reaper.adopt(pid, Child::Run);
                if let Some((r, _w, _)) = pipe {
                    let r = File::from(r);
                    let _ = nix::fcntl::fcntl(
                        &r,
                        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
                    );
                    self.notify = Some(r);
                }
                Event::Started(pid.as_raw() as u32)
            }
            // No process could be made: the fork failure of the original,
            // and its back-off.
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
        }
    }

    /// Starts `./finish CODE SIG` if the service has one.
    fn start_finish(&mut self, code: u16, sig: u8) -> Event {
        match std::fs::metadata("finish") {
            Err(e) if e.kind() == ErrorKind::NotFound => return Event::NoFinish,
            _ => {}
        }
        let limit = match self.config_number("timeout-finish", 0, u64::MAX) {
            None => Some(FINISH_LIMIT),
            Some(0) => None,
            Some(ms) => Some(Duration::from_millis(ms)),
        };
        let argv = [
            OsString::from("./finish"),
            OsString::from(code.to_string()),
            OsString::from(sig.to_string()),
        ];
        let finish = Prepared::new(&argv, None);
        match self.spawner.spawn(&finish, &[], None) {
            Ok(pid) => {
                self.reaper.adopt(pid, Child::Finish);
                Event::FinishStarted(pid.as_raw() as u32, limit)
            }
            Err(e) => {
                diag::warn_sys(&[&"unable to start ", &self.dir, &"/finish"], e);
                Event::NoFinish
            }
        }
    }

    /// The first line of the service directory's file `name`, if it exists
    /// (read non-blocking and bounded: a FIFO or a huge file in its place
    /// costs nothing). Other errors warn.
    fn config(&self, name: &str) -> Option<String> {
        let buf = match common::file::read_bounded(name, CONFIG_MAX) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                self.warned.borrow_mut().retain(|w| w.0 != name);
                return None;
            }
            Err(e) => {
                diag::warn_sys(&[&"unable to read ", &self.dir, &"/", &name], errno_of(&e));
                return None;
            }
        };
        let text = String::from_utf8_lossy(&buf);
        Some(text.lines().next().unwrap_or("").trim().to_string())
    }

    /// `ignoring DIR/NAME: invalid value`, once for each value `text` the
    /// file takes.
    fn invalid(&self, name: &'static str, text: &str) {
        let mut warned = self.warned.borrow_mut();
        match warned.iter_mut().find(|w| w.0 == name) {
            Some(w) if w.1 == text => return,
            Some(w) => w.1 = text.to_string(),
            None => warned.push((name, text.to_string())),
        }
        diag::warn(&[&"ignoring ", &self.dir, &"/", &name, &": invalid value"]);
    }

    /// The file `name` was read and is valid (a later bad value warns).
    fn valid(&self, name: &'static str) {
        self.warned.borrow_mut().retain(|w| w.0 != name);
    }

    /// A number from `min` to `max` from the file `name`; an invalid one
    /// warns and counts as absent.
    fn config_number(&self, name: &'static str, min: u64, max: u64) -> Option<u64> {
        let text = self.config(name)?;
        match text.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => {
                self.valid(name);
                Some(n)
            }
            _ => {
                self.invalid(name, &text);
                None
            }
        }
    }

    /// `notification-fd`: 3 or above (0, 1 and 2 are the service's own),
    /// and below the soft limit on descriptors, which `./run` inherits
    /// (no descriptor can be given at or above it: such a value is
    /// ignored with a warning, and the service starts without readiness).
    fn notification_fd(&self) -> Option<i32> {
        let max = common::rt::descriptor_limit().map_or(NOTIFY_FD_MAX, |(soft, _)| {
            soft.saturating_sub(1).min(NOTIFY_FD_MAX)
        });
        self.config_number("notification-fd", 3, max)
            .map(|n| n as i32)
    }

    /// Reads `down-signal` and `timeout-kill` into the state, for a `d`.
    fn read_stop_config(&mut self) {
        self.state.down_signal = match self.config("down-signal") {
            None => Signal::SIGTERM as i32,
            Some(t) => match parse_signal(&t) {
                Some(sig) => {
                    self.valid("down-signal");
                    sig
                }
                None => {
                    self.invalid("down-signal", &t);
                    Signal::SIGTERM as i32
                }
            },
        };
        self.state.timeout_kill = self
            .config_number("timeout-kill", 0, u64::MAX)
            .filter(|&ms| ms > 0)
            .map(Duration::from_millis);
    }

    /// Writes the sidecar if it changed, then the event byte to every
    /// subscriber: whoever is woken finds the sidecar already saying it.
    fn publish(&mut self, b: u8) {
        self.sync_xstatus();
        if self.events {
            fifodir::publish(Path::new(control::EVENT), b);
        }
    }

    fn sync_xstatus(&mut self) {
        let bytes = self.state.xstatus().encode();
        if self.xstatus == Some(bytes) {
            return;
        }
        self.xstatus = Some(bytes);
        match xstatus::write_atomic(Path::new(control::SUPERVISE_DIR), &bytes) {
            Ok(()) => self.unwritten.xstatus = false,
            Err(e) => {
                // Warned once per change; written again on the deadline.
                self.unwritten.xstatus = true;
                self.records_backoff.failed(Instant::now());
                warn_unwritten(&self.dir, "xstatus", e);
            }
        }
    }

    /// Writes again, without a warning, the records whose last write
    /// failed; the backoff's deadline moves on while one still fails.
    fn rewrite_records(&mut self) {
        let dir = Path::new(control::SUPERVISE_DIR);
        if self.unwritten.status {
            let bytes = self.state.status().encode();
            self.unwritten.status = status::write_atomic(dir, &bytes).is_err();
        }
        if self.unwritten.xstatus {
            let bytes = self.state.xstatus().encode();
            self.xstatus = Some(bytes);
            self.unwritten.xstatus = xstatus::write_atomic(dir, &bytes).is_err();
        }
        if self.unwritten.any() {
            self.records_backoff.failed(Instant::now());
        } else {
            self.records_backoff.succeeded();
        }
    }

    /// Reads the readiness pipe; a line means ready. Returns true when
    /// supervise must exit.
    fn read_notify(&mut self) -> bool {
        let mut buf = [0u8; 512];
        // Bounded: a service that writes without a newline is read again
        // at the next wake, never in a loop here.
        for _ in 0..16 {
            let Some(f) = self.notify.as_mut() else {
                return false;
            };
            match f.read(&mut buf) {
                Ok(0) => {
                    self.notify = None;
                    return false;
                }
                Ok(n) => {
                    if buf[..n].contains(&b'\n') {
                        self.notify = None;
                        return self.handle(Event::Ready);
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(_) => {
                    self.notify = None;
                    return false;
                }
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
            if self.unwritten.any() {
                deadline = min_deadline(deadline, self.records_backoff.deadline());
            }
            let wake = {
                // The control FIFO first (unless backing off), then the
                // readiness pipe: no allocation per wait.
                let control = (self.control.as_fd(), PollFlags::POLLIN);
                let notify = self.notify.as_ref().map(|f| (f.as_fd(), PollFlags::POLLIN));
                let (pair, one);
                let watch: &[_] = match (control_ok, notify) {
                    (true, Some(n)) => {
                        pair = [control, n];
                        &pair
                    }
                    (true, None) => {
                        one = [control];
                        &one
                    }
                    (false, Some(n)) => {
                        one = [n];
                        &one
                    }
                    (false, None) => &[],
                };
                let notify_at = usize::from(control_ok);
                let wake = self.rt.wait(watch, deadline);
                (
                    control_ok && wake.ready(0),
                    self.notify.is_some() && wake.ready(notify_at),
                )
            };
            if wake.1 && self.read_notify() {
                break;
            }
            // Commands before exits: a command written before `./run`
            // ended (an `x` from svscan's shutdown before the log's end of
            // file) acts first, so that `x` or `d` never lets the end
            // start `./run` again.
            if wake.0 && self.read_commands() {
                break;
            }
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
            if self.unwritten.any() && !self.records_backoff.waiting(Instant::now()) {
                self.rewrite_records();
            }
        }
        self.finish()
    }

    fn finish(mut self) -> i32 {
        announce(&self.dir, &self.state);
        self.publish(b'x');
        0
    }

    /// Reaps every exited child; true if supervise must exit.
    fn reap(&mut self) -> bool {
        self.rt.take(Signal::SIGCHLD);
        while let Some((pid, owner, ws)) = self.reaper.reap() {
            if owner == Some(Child::Run) && self.notify.is_some() {
                // A line written just before the exit still counts.
                if self.read_notify() {
                    return true;
                }
                self.notify = None;
            }
            if self.handle(Event::Exited(pid.as_raw() as u32, ws.0)) {
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
                if c == Command::Down && matches!(self.state.phase, Phase::Running { .. }) {
                    self.read_stop_config();
                }
                if self.handle(Event::Command(c)) {
                    return true;
                }
            }
        }
        false
    }
}

/// A write lock on the whole of supervise/lock besides the flock, the
/// original's lock: s6's tools (s6-svok, s6-notifyoncheck in a run script)
/// ask for this kind (`fcntl` F_GETLK) to tell whether a supervisor runs.
/// Taken on the open file description (an OFD lock), so that it lasts as
/// long as the flock, whatever else the process opens and closes. A lock
/// held elsewhere (an s6-supervise on this directory) refuses us as the
/// flock does; a kernel or file system without such locks is no refusal.
fn record_lock(f: &File) -> Result<(), Errno> {
    let whole = common::file::whole_file(nix::libc::F_WRLCK);
    match nix::fcntl::fcntl(f, nix::fcntl::FcntlArg::F_OFD_SETLK(&whole)) {
        Err(e @ (Errno::EAGAIN | Errno::EACCES)) => Err(e),
        _ => Ok(()),
    }
}

/// A signal as `down-signal` names it: `QUIT`, `SIGQUIT` or a number; a
/// real-time one as a number or as `RTMIN`, `RTMIN+N`, `RTMAX`, `RTMAX-N`
/// (with or without `SIG`; `SIGRTMIN+3` stops systemd). The C library's
/// own 32 and 33 are refused, as is anything past SIGRTMAX.
pub fn parse_signal(t: &str) -> Option<i32> {
    let (min, max) = (nix::libc::SIGRTMIN(), nix::libc::SIGRTMAX());
    let real_time = |n: i32| (min..=max).contains(&n).then_some(n);
    if let Ok(n) = t.parse::<i32>() {
        return Signal::try_from(n)
            .ok()
            .map(|s| s as i32)
            .or_else(|| real_time(n));
    }
    let upper = t.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    // RTMIN counts up from SIGRTMIN, RTMAX down from SIGRTMAX; an offset
    // is digits only (`RTMIN+3`, not `RTMIN+-3` or `RTMIN++3`).
    for (name, base, sign, dir) in [("RTMIN", min, '+', 1), ("RTMAX", max, '-', -1)] {
        let Some(rest) = bare.strip_prefix(name) else {
            continue;
        };
        let n = match rest.strip_prefix(sign) {
            _ if rest.is_empty() => Some(0),
            Some(d) if !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()) => {
                d.parse::<i32>().ok()
            }
            _ => None,
        };
        return n
            .and_then(|n| base.checked_add(dir * n))
            .and_then(real_time);
    }
    format!("SIG{bare}")
        .parse::<Signal>()
        .ok()
        .map(|s| s as i32)
}

fn min_deadline(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_signal_values() {
        let (min, max) = (nix::libc::SIGRTMIN(), nix::libc::SIGRTMAX());
        for (text, want) in [
            ("QUIT", Some(Signal::SIGQUIT as i32)),
            ("SIGQUIT", Some(Signal::SIGQUIT as i32)),
            ("sighup", Some(Signal::SIGHUP as i32)),
            ("hup", Some(Signal::SIGHUP as i32)),
            ("10", Some(Signal::SIGUSR1 as i32)),
            ("31", Some(Signal::SIGSYS as i32)),
            ("0", None),
            ("-9", None),
            ("32", None),
            ("33", None),
            ("34", Some(min)),
            ("64", Some(max)),
            ("65", None),
            ("SIGRTMIN", Some(min)),
            ("rtmin", Some(min)),
            ("SIGRTMIN+3", Some(min + 3)),
            ("RTMIN+0", Some(min)),
            ("RTMIN+30", Some(max)),
            ("RTMIN+31", None),
            ("RTMIN+", None),
            ("RTMIN-1", None),
            ("RTMIN+-1", None),
            ("RTMIN++1", None),
            ("RTMIN+99999999999", None),
            ("SIGRTMAX", Some(max)),
            ("RTMAX-2", Some(max - 2)),
            ("RTMAX+1", None),
            ("RTMAX-31", None),
            ("SIGRT", None),
            ("10x", None),
            ("99999999999999999999", None),
            ("", None),
        ] {
            assert_eq!(parse_signal(text), want, "{text:?}");
        }
    }
}

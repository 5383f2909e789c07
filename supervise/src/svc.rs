//! `svc [-udopchaitkxq12] [-w u|U|d|D|r|R [-T MS]] DIR...`: write command
//! bytes to supervise, and optionally wait for a state.
//!
//! Exit codes: 0 (also when every directory warned), 100 bad option, 111 when
//! the current directory cannot be opened or returned to. With `-w` (an
//! extension, spec/extensions.md): 0 reached, 99 timeout, 102 a supervise
//! went away (or was not running), N when N services failed permanently,
//! 111 when a directory could not be watched (nothing is sent then) or a
//! running supervise could not be told (the others are, but no wait is
//! made).
//! `-q -1 -2` send QUIT, USR1, USR2 (bytes a C supervise ignores).

use std::ffi::OsString;
use std::fs::File;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use common::args::Getopt;
use common::control::{self, Open};
use common::diag::{self, errno_of};
use common::sys;
use nix::sys::signal::Signal;

use crate::wait::{self, SubscribeError, Target, Watches};

/// svc's usage line: it has no `svc:` prefix.
const OPTIONS_LINE: &str = "svc options: u up, d down, o once, x exit, p pause, c continue, h hup, a alarm, i interrupt, t term, k kill\n";

/// The original keeps at most this many command bytes (one per letter).
const MAX_COMMANDS: usize = 20;

pub fn main(args: &[OsString]) -> i32 {
    diag::set_program("svc");
    let mut commands: Vec<u8> = Vec::with_capacity(MAX_COMMANDS);
    let mut target = None;
    let mut timeout = None;
    let mut g = Getopt::new(args, "udopchaitkxq12w:T:");
    for o in g.by_ref() {
        let bad = match o {
            Ok(o) if o.letter == b'w' => {
                let v = o.value.map(|v| v.as_encoded_bytes()).unwrap_or_default();
                target = match v {
                    [c] => Target::from_letter(*c),
                    _ => None,
                };
                target.is_none()
            }
            Ok(o) if o.letter == b'T' => {
                timeout = o.value.and_then(wait::parse_ms);
                timeout.is_none()
            }
            Ok(o) => {
                if !commands.contains(&o.letter) && commands.len() < MAX_COMMANDS {
                    commands.push(o.letter);
                }
                false
            }
            Err(_) => true,
        };
        if bad {
            diag::write_line(OPTIONS_LINE.as_bytes());
            return diag::EXIT_USAGE;
        }
    }
    let dirs = g.operands();

    sys::ignore_signal(Signal::SIGPIPE);
    let home = File::open(".")
        .unwrap_or_else(|e| diag::fatal_sys(&[&"unable to open current directory"], errno_of(&e)));

    // Subscribe before anything is sent, so that no transition is missed.
    // A directory without a supervise is warned about by the send below,
    // in the original's words. One that cannot be watched (no descriptor
    // left, say) is fatal, as for svwait, before anything is sent.
    let mut watches = Watches::new();
    let mut gone = 0;
    let mut watched = vec![false; dirs.len()];
    if target.is_some() {
        wait::reserve_descriptors(dirs.len());
        for (i, dir) in dirs.iter().enumerate() {
            match watches.subscribe(dir) {
                Ok(()) => watched[i] = true,
                Err(SubscribeError::NotRunning) => gone += 1,
                Err(SubscribeError::Sys(what, e)) => {
                    // The FIFOs made so far go with their subscriptions.
                    drop(watches);
                    diag::fatal_sys(&[&"unable to ", &what, &" for ", dir], e)
                }
            }
        }
    }

    // Watched directories (their supervise was running) that were not
    // told: the wait would be in vain for them. The others are already
    // counted as gone.
    let mut untold = 0;
    for (dir, watched) in dirs.iter().zip(watched) {
        if tell(dir, &commands) == Told::Failed && watched {
            untold += 1;
        }
        if let Err(e) = nix::unistd::fchdir(&home) {
            diag::fatal_sys(&[&"unable to set directory"], e);
        }
    }
    match target {
        None => 0,
        // Warned above; what was sent is sent, but no wait is made.
        Some(_) if untold > 0 => diag::EXIT_TEMP,
        Some(t) => {
            let deadline = timeout.map(|ms| Instant::now() + Duration::from_millis(ms));
            watches.wait(gone, t, true, deadline)
        }
    }
}

/// How long svc waits for room in a control FIFO that is full: its
/// supervise has read nothing for a long while (stopped, or stuck), since
/// a running one reads every byte at once.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Writes `commands` to the control FIFO `f` (opened non-blocking), waiting
/// for room up to `timeout` in all: the original switched the descriptor
/// to blocking, and hung for ever on a FIFO its supervise no longer read,
/// never reaching the directories after it. Every byte is a command of
/// its own, so commands written before the deadline stand.
fn write_within(f: &File, commands: &[u8], timeout: Duration) -> Result<(), nix::Error> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let deadline = Instant::now() + timeout;
    let mut left = commands;
    while !left.is_empty() {
        match nix::unistd::write(f, left) {
            Ok(n) => left = &left[n..],
            Err(nix::Error::EINTR) => {}
            Err(nix::Error::EAGAIN) => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(nix::Error::EAGAIN);
                }
                let wait = PollTimeout::try_from(deadline - now).unwrap_or(PollTimeout::MAX);
                let mut fds = [PollFd::new(f.as_fd(), PollFlags::POLLOUT)];
                match poll(&mut fds, wait) {
                    Ok(_) | Err(nix::Error::EINTR) => {}
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// What became of the commands for one directory.
#[derive(PartialEq)]
enum Told {
    Yes,
    /// No supervise there (a watch of it reports it gone).
    NotRunning,
    /// Its supervise may run, but the commands were not written.
    Failed,
}

/// Writes `commands` to the control FIFO of `dir`, warning in the
/// original's words when they cannot be; the current directory is left in
/// `dir`.
fn tell(dir: &OsString, commands: &[u8]) -> Told {
    if let Err(e) = std::env::set_current_dir(dir) {
        diag::warn_sys(&[&"unable to chdir to ", dir], errno_of(&e));
        return Told::Failed;
    }
    match control::open_fifo_writer(control::CONTROL.as_ref()) {
        Open::NotRunning => {
            diag::warn(&[&"unable to control ", dir, &": supervise not running"]);
            Told::NotRunning
        }
        Open::Error(e) => {
            diag::warn_sys(&[&"unable to control ", dir], e);
            Told::Failed
        }
        Open::Running(f) => {
            let written = write_within(&f, commands, WRITE_TIMEOUT);
            match written {
                Ok(()) => Told::Yes,
                Err(e) => {
                    diag::warn_sys(&[&"error writing commands to ", dir], e);
                    Told::Failed
                }
            }
        }
    }
}

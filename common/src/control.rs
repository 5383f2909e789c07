//! supervise's control channel: command bytes, FIFO paths, liveness test.
//!
//! `svc` writes command bytes into `supervise/control`; `supervise` keeps that
//! FIFO and `supervise/ok` open for reading. Opening either write-only and
//! non-blocking fails with ENXIO exactly when no supervise holds it open:
//! that is how every tool asks "is supervise running?".

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::errno::Errno;

use crate::diag::errno_of;

/// Directory supervise keeps its files in, relative to the service directory.
pub const SUPERVISE_DIR: &str = "supervise";
/// The command FIFO.
pub const CONTROL: &str = "supervise/control";
/// The liveness FIFO.
pub const OK: &str = "supervise/ok";
/// The status record.
pub const STATUS: &str = "supervise/status";
/// The lock file.
pub const LOCK: &str = "supervise/lock";
/// Presence of this file in the service directory means "normally down".
pub const DOWN: &str = "down";
/// The event fifodir (an extension, spec/extensions.md): waiters make
/// their FIFOs here, supervise writes one byte per event to each.
pub const EVENT: &str = "supervise/event";

/// One control byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `u`: want up; start if down.
    Up,
    /// `d`: want down; TERM then CONT if running.
    Down,
    /// `o`: run once: start if down, do not restart.
    Once,
    /// `p`: pause (STOP).
    Pause,
    /// `c`: continue (CONT).
    Continue,
    /// `h`: HUP.
    Hup,
    /// `a`: ALRM.
    Alarm,
    /// `i`: INT.
    Interrupt,
    /// `t`: TERM.
    Term,
    /// `k`: KILL.
    Kill,
    /// `x`: exit once the service is down.
    Exit,
    /// `q`: QUIT (an extension; the C supervise ignores the byte).
    Quit,
    /// `1`: USR1 (an extension).
    Usr1,
    /// `2`: USR2 (an extension).
    Usr2,
}

impl Command {
    /// Every command, in svc's option order.
    pub const ALL: [Command; 14] = [
        Command::Up,
        Command::Down,
        Command::Once,
        Command::Pause,
        Command::Continue,
        Command::Hup,
        Command::Alarm,
        Command::Interrupt,
        Command::Term,
        Command::Kill,
        Command::Exit,
        Command::Quit,
        Command::Usr1,
        Command::Usr2,
    ];

    /// The byte written to the FIFO (also svc's option letter).
    pub fn byte(self) -> u8 {
        match self {
            Command::Up => b'u',
            Command::Down => b'd',
            Command::Once => b'o',
            Command::Pause => b'p',
            Command::Continue => b'c',
            Command::Hup => b'h',
            Command::Alarm => b'a',
            Command::Interrupt => b'i',
            Command::Term => b't',
            Command::Kill => b'k',
            Command::Exit => b'x',
            Command::Quit => b'q',
            Command::Usr1 => b'1',
            Command::Usr2 => b'2',
        }
    }

    /// The command of a byte; unknown bytes are `None` (supervise ignores them).
    pub fn from_byte(b: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.byte() == b)
    }
}

/// Result of trying to open a supervise FIFO for writing.
#[derive(Debug)]
pub enum Open {
    /// supervise holds the FIFO open; here is a (non-blocking) writer.
    Running(File),
    /// ENXIO: nobody reads the FIFO, supervise is not running.
    NotRunning,
    /// Any other error (ENOENT for a FIFO never created, ...).
    Error(Errno),
}

/// Opens `path` with `O_WRONLY|O_NONBLOCK` (close-on-exec), the liveness test.
pub fn open_fifo_writer(path: &Path) -> Open {
    match OpenOptions::new()
        .write(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => Open::Running(f),
        Err(e) => match errno_of(&e) {
            Errno::ENXIO => Open::NotRunning,
            e => Open::Error(e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip() {
        let letters: Vec<u8> = Command::ALL.iter().map(|c| c.byte()).collect();
        assert_eq!(letters, b"udopchaitkxq12");
        for c in Command::ALL {
            assert_eq!(Command::from_byte(c.byte()), Some(c));
        }
        assert_eq!(Command::from_byte(b'z'), None);
        assert_eq!(Command::from_byte(0), None);
    }

    #[test]
    fn liveness() {
        let d = std::env::temp_dir().join(format!("control-test-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let fifo = d.join("ok");
        assert!(matches!(
            open_fifo_writer(&fifo),
            Open::Error(Errno::ENOENT)
        ));
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert!(matches!(open_fifo_writer(&fifo), Open::NotRunning));
        let reader = OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap();
        assert!(matches!(open_fifo_writer(&fifo), Open::Running(_)));
        drop(reader);
        std::fs::remove_dir_all(&d).unwrap();
    }
}

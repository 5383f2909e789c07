//! Signals as readable bytes: the daemons' event loops poll this pipe with
//! their other descriptors instead of doing work in a signal handler.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::Signal;

use crate::diag::errno_of;

/// A non-blocking, close-on-exec pipe that receives a byte for each of the
/// given signals (through signal-hook's handler).
pub struct SelfPipe(File);

impl SelfPipe {
    pub fn new(signals: &[Signal]) -> Result<SelfPipe, Errno> {
        let (r, w) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
        for &s in signals {
            let w = w.try_clone().map_err(|e| errno_of(&e))?;
            signal_hook::low_level::pipe::register(s as i32, w).map_err(|e| errno_of(&e))?;
        }
        Ok(SelfPipe(File::from(r)))
    }

    /// Empties the pipe; whether any signal had arrived.
    pub fn drain(&mut self) -> bool {
        let mut buf = [0u8; 64];
        let mut any = false;
        while let Ok(n) = self.0.read(&mut buf) {
            any |= n > 0;
            if n < buf.len() {
                break;
            }
        }
        any
    }
}

impl AsFd for SelfPipe {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

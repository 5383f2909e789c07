//! The only module of the project allowed `unsafe`.
//!
//! Each block says why it is sound. Everything here is a thin wrapper over a
//! system call that `nix` exposes only as `unsafe` because of what it does to
//! the whole process (fork, signal dispositions).

use nix::errno::Errno;
use nix::sys::signal::{self, SigHandler, Signal};
use nix::unistd::{ForkResult, Pid};

/// Where `fork` left us.
pub enum Forked {
    Parent(Pid),
    Child,
}

/// `fork(2)`.
///
/// Callers must be single-threaded (every program of this project is) and
/// must, in the child, only exec or exit after doing async-signal-safe work;
/// they prepare every allocation (paths, argv) before calling this.
pub fn fork() -> Result<Forked, Errno> {
    // SAFETY: the programs that call this never start threads, so the child
    // is an exact copy of a single-threaded process: no lock can be held by a
    // thread that does not exist in the child. Callers only exec or exit in
    // the child (documented above).
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Parent { child } => Ok(Forked::Parent(child)),
        ForkResult::Child => Ok(Forked::Child),
    }
}

/// Sets `sig` to its default disposition.
///
/// The Rust runtime ignores SIGPIPE in every program, and an ignored signal
/// survives `execve`; everything we exec must get it back at its default,
/// as from the C originals.
pub fn default_signal(sig: Signal) {
    // SAFETY: SIG_DFL installs no handler, so no Rust code can run in signal
    // context; changing a disposition is process-wide and has no other effect.
    let _ = unsafe { signal::signal(sig, SigHandler::SigDfl) };
}

/// Ignores `sig` (svc ignores SIGPIPE).
pub fn ignore_signal(sig: Signal) {
    // SAFETY: SIG_IGN installs no handler; see `default_signal`.
    let _ = unsafe { signal::signal(sig, SigHandler::SigIgn) };
}

/// `_exit(2)`: leave a forked child without running any parent cleanup.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit is async-signal-safe and only ends the calling process.
    unsafe { nix::libc::_exit(code) }
}

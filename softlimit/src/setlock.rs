//! `setlock [-nNxX] file program [arg ...]`: run program holding an
//! exclusive flock on file.
//!
//! The file is opened for appending (created 0600, never truncated); the
//! locked descriptor is inherited by the program, so the lock lasts until
//! every process holding it has exited. -n: fail at once if the lock is held;
//! -x: exit 0 silently if the file cannot be opened or locked.
//! Exit codes: 100 usage, 111 failures (0 with -x), else the program's.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;

use common::args::Getopt;
use common::diag::{self, errno_of};
use common::exec;
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, FdFlag, Flock, FlockArg};

const USAGE: &str = "setlock [ -nNxX ] file program [ arg ... ]";

pub fn main(args: &[OsString]) -> i32 {
    diag::set_program("setlock");
    let mut nodelay = false;
    let mut quiet = false;
    let mut g = Getopt::new(args, "nNxX");
    for o in g.by_ref() {
        match o.map(|o| o.letter) {
            Ok(b'n') => nodelay = true,
            Ok(b'N') => nodelay = false,
            Ok(b'x') => quiet = true,
            Ok(b'X') => quiet = false,
            _ => diag::usage(USAGE),
        }
    }
    let rest = g.operands();
    if rest.len() < 2 {
        diag::usage(USAGE);
    }
    let file = &rest[0];
    let fail = |what: &str, e: Errno| -> ! {
        if quiet {
            std::process::exit(0);
        }
        diag::fatal_sys(&[&what, file], e)
    };
    let f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(file)
        .unwrap_or_else(|e| fail("unable to open ", errno_of(&e)));
    // The program inherits the locked descriptor.
    if let Err(e) = fcntl(f.as_fd(), FcntlArg::F_SETFD(FdFlag::empty())) {
        fail("unable to open ", e);
    }
    let how = if nodelay {
        FlockArg::LockExclusiveNonblock
    } else {
        FlockArg::LockExclusive
    };
    let lock = Flock::lock(f, how).unwrap_or_else(|(_, e)| fail("unable to lock ", e));
    // Dropping the guard would unlock: the lock must outlive the exec.
    std::mem::forget(lock);
    exec::chain(&rest[1..], None)
}

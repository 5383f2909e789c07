//! `svok DIR`: exit 0 if supervise is running on DIR, 100 if not.
//!
//! Exit codes: 0 running, 100 not running or usage, 111 other errors.

use std::ffi::OsString;

use common::control::{self, Open};
use common::diag::{self, errno_of};
use nix::errno::Errno;

pub fn main(args: &[OsString]) -> i32 {
    diag::set_program("svok");
    common::sys::sigpipe_default();
    let Some(dir) = args.get(1) else {
        diag::usage("svok dir");
    };
    if let Err(e) = std::env::set_current_dir(dir) {
        diag::fatal_sys(&[&"unable to chdir to ", dir], errno_of(&e));
    }
    match control::open_fifo_writer(control::OK.as_ref()) {
        Open::Running(_) => 0,
        Open::NotRunning | Open::Error(Errno::ENOENT) => diag::EXIT_USAGE,
        Open::Error(e) => diag::fatal_sys(&[&"unable to open ", dir, &"/supervise/ok"], e),
    }
}

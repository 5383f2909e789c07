//! `setuidgid account child`: become the account, then exec child.
//!
//! In the safe order: supplementary groups become exactly the account's
//! primary gid, then the gid, then the uid. The environment is left alone.
//! Exit codes: 100 usage, 111 failures, else the child's.

use std::ffi::OsString;

use common::diag;
use common::exec;

pub fn main(args: &[OsString]) -> i32 {
    diag::set_program("setuidgid");
    if args.len() < 3 {
        diag::usage("setuidgid account child");
    }
    let name = &args[1];
    let Some(pw) = crate::account(name) else {
        crate::unknown(name)
    };
    if let Err(e) = nix::unistd::setgroups(&[pw.gid]).and_then(|()| nix::unistd::setgid(pw.gid)) {
        diag::fatal_sys(&[&"unable to setgid"], e);
    }
    if let Err(e) = nix::unistd::setuid(pw.uid) {
        diag::fatal_sys(&[&"unable to setuid"], e);
    }
    exec::exec_or_die(&args[2..], None)
}

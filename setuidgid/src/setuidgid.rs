//! `setuidgid account child`: become the account, then exec child.
//!
//! In the safe order: supplementary groups become exactly the account's
//! primary gid, then the gid, then the uid. The environment is left alone.
//! Exit codes: 100 usage, 111 failures, else the child's.

use std::ffi::OsString;

use common::diag;
use common::exec;
use nix::unistd::{Gid, Uid};

pub fn main(args: &[OsString]) -> i32 {
    diag::set_program("setuidgid");
    if args.len() < 3 {
        diag::usage("setuidgid account child");
    }
    let name = &args[1];
    let Some(pw) = crate::account(name) else {
        crate::unknown(name)
    };
    let (uid, gid) = (Uid::from_raw(pw.uid), Gid::from_raw(pw.gid));
    if let Err(e) = nix::unistd::setgroups(&[gid]).and_then(|()| nix::unistd::setgid(gid)) {
        diag::fatal_sys(&[&"unable to setgid"], e);
    }
    if let Err(e) = nix::unistd::setuid(uid) {
        diag::fatal_sys(&[&"unable to setuid"], e);
    }
    exec::chain(&args[2..], None)
}

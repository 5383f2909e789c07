//! `envuidgid account child`: exec child with GID and UID set to the
//! account's ids (decimal). Our own ids do not change.
//! Exit codes: 100 usage, 111 failures, else the child's.

use std::ffi::OsString;

use common::diag;
use common::exec::{self, EnvEdit};

pub fn main(args: &[OsString]) -> i32 {
    diag::set_program("envuidgid");
    if args.len() < 3 {
        diag::usage("envuidgid account child");
    }
    let name = &args[1];
    let Some(pw) = crate::account(name) else {
        crate::unknown(name)
    };
    let mut edit = EnvEdit::new();
    edit.set("GID", pw.gid.to_string());
    edit.set("UID", pw.uid.to_string());
    exec::chain(&args[2..], Some(&edit))
}

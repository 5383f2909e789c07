//! `pgrphack child`: run child in a new session and process group.
//!
//! Exit codes: 100 usage, 111 exec failure; otherwise the child's.

use std::ffi::OsString;

use common::diag;
use common::exec;

pub fn main(args: &[OsString]) -> i32 {
    diag::set_program("pgrphack");
    let child = &args[1.min(args.len())..];
    if child.is_empty() {
        diag::usage("pgrphack child");
    }
    // Fails only if we already lead a group; the original ignores that too.
    let _ = nix::unistd::setsid();
    exec::chain(child, None)
}

//! `fghack CHILD...`: stay in the foreground until the child and everything
//! it spawned have closed 31 extra descriptors on a pipe.
//!
//! Exit codes: the child's, 100 usage, 111 errors and "child crashed".

use std::ffi::OsString;
use std::fs::File;
use std::io::Read;

use common::diag::{self, errno_of};
use common::exec::Prepared;
use common::rt::Ended;
use common::sys::{self, Forked};
use nix::errno::Errno;

/// The child holds the pipe's write end plus this many duplicates.
const DUPS: usize = 30;

pub fn main(args: &[OsString]) -> i32 {
    diag::set_program("fghack");
    // The original leaves SIGPIPE at its default, for itself (a `kill
    // -PIPE` ends it) and for the child it execs.
    sys::sigpipe_default();
    let child = &args[1.min(args.len())..];
    if child.is_empty() {
        diag::usage("fghack child");
    }
    let (r, w) =
        nix::unistd::pipe().unwrap_or_else(|e| diag::fatal_sys(&[&"unable to create pipe"], e));
    let prepared = Prepared::new(child, None);
    let pid = match sys::fork() {
        Err(e) => diag::fatal_sys(&[&"unable to fork"], e),
        Ok(Forked::Child) => {
            drop(r);
            // A standard descriptor closed at start is free again, as
            // under the original: the first dup takes it.
            sys::reclose_standard_descriptors();
            // dup() returns descriptors without close-on-exec, on the lowest
            // free numbers; they are leaked into the exec on purpose.
            for _ in 0..DUPS {
                if let Ok(fd) = nix::unistd::dup(&w) {
                    std::mem::forget(fd);
                }
            }
            std::mem::forget(w);
            let e = prepared.exec();
            diag::fatal_sys(&[&"unable to run ", &child[0]], e)
        }
        Ok(Forked::Parent(pid)) => pid,
    };
    drop(w);
    let mut r = File::from(r);
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if errno_of(&e) == Errno::EINTR => {}
            Err(_) => break,
        }
    }
    loop {
        match Ended::wait_for(pid) {
            Ok(ended) => match ended.code() {
                Some(code) => return code,
                None => diag::fatal(&[&"child crashed"]),
            },
            Err(Errno::EINTR) => {}
            Err(e) => diag::fatal_sys(&[&"wait failed"], e),
        }
    }
}

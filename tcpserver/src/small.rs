//! argv0 and mconnect-io.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};

use common::diag;
use common::exec;
use common::sys::{self, Forked};
use nix::sys::signal::Signal;

/// `argv0 REALNAME ZERO [ARG...]`: exec REALNAME with argv `ZERO ARG...`.
/// Exit codes: 100 usage, 111 exec failure, else the program's.
pub fn argv0(args: &[OsString]) -> i32 {
    diag::set_program("argv0");
    if args.len() < 3 {
        diag::usage("argv0 realname program [ arg ... ]");
    }
    let p = exec::Prepared::with_path(&args[1], &args[2..], None);
    sys::default_signal(Signal::SIGPIPE);
    sys::reclose_standard_descriptors();
    let e = p.exec();
    diag::fatal_sys(&[&"unable to run ", &args[1]], e)
}

/// `mconnect-io`, under tcpclient: stdin to fd 7 with `\r` added before
/// each `\n` (a forked child), fd 6 to stdout; at the end the child is
/// stopped with TERM. Exit codes: 0, 111 if it cannot fork.
pub fn mconnect_io(_args: &[OsString]) -> i32 {
    diag::set_program("mconnect-io");
    sys::ignore_signal(Signal::SIGPIPE);
    let fd6 = dup_of(6);
    let fd7 = dup_of(7);
    match sys::fork() {
        Err(e) => diag::fatal_sys(&[&"unable to fork"], e),
        Ok(Forked::Child) => {
            let mut out = fd7;
            let mut input = common::file::stdin();
            let mut buf = [0u8; 4096];
            let mut o = Vec::with_capacity(8192);
            while let Ok(n) = input.read(&mut buf) {
                if n == 0 {
                    break;
                }
                o.clear();
                crate::filters::addcr(&buf[..n], &mut o);
                if let Some(f) = out.as_mut() {
                    if f.write_all(&o).is_err() {
                        break;
                    }
                }
            }
            sys::exit_now(0)
        }
        Ok(Forked::Parent(child)) => {
            let mut out = common::file::stdout();
            let mut buf = [0u8; 4096];
            if let Some(mut f) = fd6 {
                while let Ok(n) = f.read(&mut buf) {
                    if n == 0 || out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
                        break;
                    }
                }
            }
            let _ = nix::sys::signal::kill(child, Signal::SIGTERM);
            let _ = common::rt::Ended::wait_for(child);
            0
        }
    }
}

/// A descriptor inherited by number (tcpclient's 6 and 7), duplicated.
fn dup_of(fd: i32) -> Option<File> {
    sys::dup_inherited(fd).ok().map(File::from)
}

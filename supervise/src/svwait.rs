//! `svwait [-u|-U|-d|-D|-r|-R] [-a|-o] [-t MS] DIR...`: wait, without
//! sending anything, until all (`-a`, the default) or one (`-o`) of the
//! services are up, ready, down, down and finished, restarted, or restarted
//! and ready (an extension with s6-svwait's interface, spec/extensions.md).
//!
//! Exit codes: 0 reached, 99 timeout, 100 usage, 102 a supervise went away
//! or was not running, 111 a system call failed or a directory is not
//! there, N when N services waited
//! for up failed permanently. `-t 0` looks once and does not wait (a
//! readiness probe); without `-t` there is no time limit.

use std::ffi::OsString;
use std::time::{Duration, Instant};

use common::args::Getopt;
use common::diag;
use nix::errno::Errno;

use crate::wait::{self, SubscribeError, Target, Watches};

const USAGE: &str = "svwait [ -u | -U | -d | -D | -r | -R ] [ -a | -o ] [ -t timeout ] dir ...";

pub fn main(args: &[OsString]) -> i32 {
    diag::set_program("svwait");
    let mut target = Target::Up;
    let mut all = true;
    let mut timeout = None;
    let mut g = Getopt::new(args, "uUdDrRaot:");
    for o in g.by_ref() {
        match o {
            Ok(o) => match o.letter {
                b'a' => all = true,
                b'o' => all = false,
                b't' => match o.value.and_then(wait::parse_ms) {
                    Some(ms) => timeout = Some(ms),
                    None => diag::usage(USAGE),
                },
                c => target = Target::from_letter(c).unwrap_or(target),
            },
            Err(_) => diag::usage(USAGE),
        }
    }
    let dirs = g.operands();
    let start = Instant::now();
    let mut watches = Watches::new();
    let mut gone = 0;
    // A directory that is not there is an error, not a service whose
    // supervise is not running (svok's line and exit code): looked for
    // before any watch begins.
    for dir in dirs {
        match std::fs::metadata(dir) {
            Err(e) => diag::fatal_sys(&[&"unable to chdir to ", dir], diag::errno_of(&e)),
            Ok(m) if !m.is_dir() => diag::fatal_sys(&[&"unable to chdir to ", dir], Errno::ENOTDIR),
            Ok(_) => {}
        }
    }
    wait::reserve_descriptors(dirs.len());
    for dir in dirs {
        match watches.subscribe(dir) {
            Ok(()) => {}
            Err(SubscribeError::NotRunning) => {
                diag::warn(&[&"unable to watch ", dir, &": supervise not running"]);
                gone += 1;
            }
            Err(SubscribeError::Sys(what, e)) => {
                // The FIFOs made so far go with their subscriptions.
                drop(watches);
                diag::fatal_sys(&[&"unable to ", &what, &" for ", dir], e)
            }
        }
    }
    let deadline = timeout.map(|ms| start + Duration::from_millis(ms));
    watches.wait(gone, target, all, deadline)
}

//! `svc [-udopchaitkx] DIR...`: write command bytes to supervise.
//!
//! Exit codes: 0 (also when every directory warned), 100 bad option, 111 when
//! the current directory cannot be opened or returned to.

use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;

use common::args::Getopt;
use common::control::{self, Open};
use common::diag::{self, errno_of};
use common::sys;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::signal::Signal;

/// svc's usage line: it has no `svc:` prefix.
const OPTIONS_LINE: &str = "svc options: u up, d down, o once, x exit, p pause, c continue, h hup, a alarm, i interrupt, t term, k kill\n";

/// The original keeps at most this many command bytes (one per letter).
const MAX_COMMANDS: usize = 20;

pub fn main(args: &[OsString]) -> i32 {
    diag::set_program("svc");
    let mut commands: Vec<u8> = Vec::with_capacity(MAX_COMMANDS);
    let mut g = Getopt::new(args, "udopchaitkx");
    for o in g.by_ref() {
        match o {
            Ok(o) => {
                if !commands.contains(&o.letter) && commands.len() < MAX_COMMANDS {
                    commands.push(o.letter);
                }
            }
            Err(_) => {
                diag::write_line(OPTIONS_LINE.as_bytes());
                return diag::EXIT_USAGE;
            }
        }
    }
    let dirs = g.operands();

    sys::ignore_signal(Signal::SIGPIPE);
    let home = File::open(".")
        .unwrap_or_else(|e| diag::fatal_sys(&[&"unable to open current directory"], errno_of(&e)));

    for dir in dirs {
        if let Err(e) = std::env::set_current_dir(dir) {
            diag::warn_sys(&[&"unable to chdir to ", dir], errno_of(&e));
            continue;
        }
        match control::open_fifo_writer(control::CONTROL.as_ref()) {
            Open::NotRunning => {
                diag::warn(&[&"unable to control ", dir, &": supervise not running"])
            }
            Open::Error(e) => diag::warn_sys(&[&"unable to control ", dir], e),
            Open::Running(mut f) => {
                let blocking = fcntl(f.as_fd(), FcntlArg::F_SETFL(OFlag::O_WRONLY));
                let written = match blocking {
                    Ok(_) => f.write_all(&commands).map_err(|e| errno_of(&e)),
                    Err(e) => Err(e),
                };
                if let Err(e) = written {
                    diag::warn_sys(&[&"error writing commands to ", dir], e);
                }
            }
        }
        if let Err(e) = nix::unistd::fchdir(&home) {
            diag::fatal_sys(&[&"unable to set directory"], e);
        }
    }
    0
}

//! recordio and fixcrio: run a program with its stdin and stdout passed
//! through a copying process (spec/ucspi-helpers.md).
//!
//! The original process execs the program (so the program keeps its pid);
//! a forked child copies, 256 bytes at a time in each direction: original
//! stdin to the program, the program's output to original stdout. recordio
//! logs every chunk to fd 2 as `PID < text ` / `PID > text+`; fixcrio puts a
//! `\r` before every `\n` not already after one. Exit codes: 100 usage, 111
//! set-up failures; the copier exits 0.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;

use common::diag;
use common::exec;
use common::rt::{Disposition, Runtime};
use common::sys::{self, Forked};
use nix::poll::PollFlags;
use nix::sys::signal::Signal;

/// The original reads at most this much at a time in each direction.
const CHUNK: usize = 256;

/// What the copier does to each chunk.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Record,
    FixCr,
}

/// recordio's lines for one chunk.
pub fn record(pid: u32, dir: u8, chunk: &[u8], out: &mut Vec<Vec<u8>>) {
    let mut rest = chunk;
    while !rest.is_empty() {
        let mut line = format!("{pid} {} ", dir as char).into_bytes();
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                line.extend_from_slice(&rest[..i]);
                line.extend_from_slice(b" \n");
                rest = &rest[i + 1..];
            }
            None => {
                line.extend_from_slice(rest);
                line.extend_from_slice(b"+\n");
                rest = &[];
            }
        }
        out.push(line);
    }
}

/// fixcrio on one chunk; `prev` is the last byte of the direction.
pub fn fixcr(chunk: &[u8], prev: &mut u8, out: &mut Vec<u8>) {
    for &b in chunk {
        if b == b'\n' && *prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        *prev = b;
    }
}

pub fn main(args: &[OsString], mode: Mode) -> i32 {
    let name = if mode == Mode::Record {
        "recordio"
    } else {
        "fixcrio"
    };
    diag::set_program(name);
    let program = &args[1.min(args.len())..];
    if program.is_empty() {
        diag::usage(&format!("{name} program [ arg ... ]"));
    }
    let pid = std::process::id();
    let (to_prog_r, to_prog_w) =
        nix::unistd::pipe().unwrap_or_else(|e| diag::fatal_sys(&[&"unable to create pipe"], e));
    let (from_prog_r, from_prog_w) =
        nix::unistd::pipe().unwrap_or_else(|e| diag::fatal_sys(&[&"unable to create pipe"], e));
    match sys::fork() {
        Err(e) => diag::fatal_sys(&[&"unable to fork"], e),
        Ok(Forked::Parent(_)) => {
            drop((to_prog_w, from_prog_r));
            if let Err(e) = nix::unistd::dup2_stdin(&to_prog_r)
                .and_then(|()| nix::unistd::dup2_stdout(&from_prog_w))
            {
                diag::fatal_sys(&[&"unable to move descriptors"], e);
            }
            drop((to_prog_r, from_prog_w));
            exec::exec_or_die(program, None)
        }
        Ok(Forked::Child) => {
            drop((to_prog_r, from_prog_w));
            sys::ignore_signal(Signal::SIGPIPE);
            copy(pid, mode, File::from(to_prog_w), File::from(from_prog_r));
            sys::exit_now(0)
        }
    }
}

fn copy(pid: u32, mode: Mode, to_prog: File, mut from_prog: File) {
    let stdin = std::io::stdin();
    let mut input = stdin.as_fd().try_clone_to_owned().map(File::from).ok();
    let mut output = std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map(File::from)
        .ok();
    let mut to_prog = Some(to_prog);
    let (mut prev_in, mut prev_out) = (0u8, 0u8);
    let mut buf = [0u8; CHUNK];
    // The runtime's wait: a poll error that persists warns once and waits,
    // never spins.
    let Ok(mut rt) = Runtime::new(&[(Signal::SIGPIPE, Disposition::Ignore)]) else {
        return;
    };
    loop {
        let (in_ready, out_ready) = {
            let from = (from_prog.as_fd(), PollFlags::POLLIN);
            let wake = match (&input, &to_prog) {
                (Some(i), Some(_)) => rt.wait(&[from, (i.as_fd(), PollFlags::POLLIN)], None),
                _ => rt.wait(&[from], None),
            };
            (wake.ready(1), wake.ready(0))
        };
        if in_ready {
            let n = input
                .as_mut()
                .map_or(Ok(0), |i| i.read(&mut buf))
                .unwrap_or(0);
            if n == 0 {
                input = None;
                to_prog = None;
                if mode == Mode::Record {
                    let _ = std::io::stderr().write_all(format!("{pid} < [EOF]\n").as_bytes());
                }
            } else if !forward(mode, pid, b'<', &buf[..n], &mut prev_in, to_prog.as_mut()) {
                return;
            }
        }
        if out_ready {
            let n = from_prog.read(&mut buf).unwrap_or(0);
            if n == 0 {
                if mode == Mode::Record {
                    let _ = std::io::stderr().write_all(format!("{pid} > [EOF]\n").as_bytes());
                }
                return;
            }
            if !forward(mode, pid, b'>', &buf[..n], &mut prev_out, output.as_mut()) {
                return;
            }
        }
    }
}

/// Records or fixes one chunk of direction `dir`, then writes it on; false
/// when it cannot be written.
fn forward(
    mode: Mode,
    pid: u32,
    dir: u8,
    chunk: &[u8],
    prev: &mut u8,
    to: Option<&mut File>,
) -> bool {
    let mut fixed = Vec::new();
    let data = match mode {
        Mode::Record => {
            let mut lines = Vec::new();
            record(pid, dir, chunk, &mut lines);
            let mut err = std::io::stderr();
            for l in &lines {
                let _ = err.write_all(l);
            }
            chunk
        }
        Mode::FixCr => {
            fixcr(chunk, prev, &mut fixed);
            &fixed[..]
        }
    };
    to.is_some_and(|w| w.write_all(data).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_lines() {
        let mut v = Vec::new();
        record(7, b'<', b"line1\nline2\r\npartial", &mut v);
        assert_eq!(
            v,
            vec![
                b"7 < line1 \n".to_vec(),
                b"7 < line2\r \n".to_vec(),
                b"7 < partial+\n".to_vec()
            ]
        );
        let mut v = Vec::new();
        record(7, b'>', b"\n", &mut v);
        assert_eq!(v, vec![b"7 >  \n".to_vec()]);
    }

    #[test]
    fn fix_cr() {
        let mut prev = 0;
        let mut o = Vec::new();
        fixcr(b"x\ny\r\n", &mut prev, &mut o);
        assert_eq!(o, b"x\r\ny\r\n");
        let mut o = Vec::new();
        fixcr(b"\r", &mut prev, &mut o);
        fixcr(b"\n\n", &mut prev, &mut o);
        assert_eq!(o, b"\r\n\r\n");
    }
}

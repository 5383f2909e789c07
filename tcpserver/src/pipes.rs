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

/// One direction's chunk, read and not yet all written on.
#[derive(Default)]
struct Pending {
    data: Vec<u8>,
    /// How much of `data` has been written.
    done: usize,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.done == self.data.len()
    }

    /// Writes what the descriptor takes now (it polled writable: a pipe
    /// then takes a chunk this small whole); false on an error.
    fn write_to(&mut self, to: &mut File) -> bool {
        match to.write(&self.data[self.done..]) {
            Ok(n) if n > 0 => {
                self.done += n;
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => true,
            _ => false,
        }
    }
}

/// The copier, as the original's: each direction either reads a chunk
/// (when it has none left to write) or writes the one it has (when the
/// other end can take it), and one wait covers both. A write never waits
/// on its own: a program that answers as it reads (`cat`) can fill both
/// pipes at once, and a copier blocked writing to it while it is blocked
/// writing to the copier would wait forever.
fn copy(pid: u32, mode: Mode, to_prog: File, mut from_prog: File) {
    // A descriptor closed at start is none (the runtime's /dev/null in its
    // place is not used): an input that ends at once, an output whose first
    // write fails, as the original's.
    let original = |fd: std::os::fd::BorrowedFd<'_>, n| match common::sys::closed_at_start(n) {
        true => None,
        false => fd.try_clone_to_owned().map(File::from).ok(),
    };
    let mut input = original(std::io::stdin().as_fd(), 0);
    let mut output = original(std::io::stdout().as_fd(), 1);
    // No input at all ends it at once, as a read error would.
    let mut to_prog = input.is_some().then_some(to_prog);
    if to_prog.is_none() {
        record_eof(mode, pid, b'<');
    }
    let (mut prev_in, mut prev_out) = (0u8, 0u8);
    let (mut left, mut right) = (Pending::default(), Pending::default());
    let mut buf = [0u8; CHUNK];
    // The runtime's wait: a poll error that persists warns once and waits,
    // never spins.
    let Ok(mut rt) = Runtime::new(&[(Signal::SIGPIPE, Disposition::Ignore)]) else {
        return;
    };
    loop {
        // Left: the original stdin to the program; right: the program's
        // output to the original stdout.
        let read_in = left.is_empty() && to_prog.is_some();
        let left_watch = match (read_in, &input, &to_prog) {
            (true, Some(i), _) => Some((i.as_fd(), PollFlags::POLLIN)),
            (false, _, Some(t)) => Some((t.as_fd(), PollFlags::POLLOUT)),
            _ => None,
        };
        let right_watch = match (right.is_empty(), &output) {
            (true, _) => (from_prog.as_fd(), PollFlags::POLLIN),
            (false, Some(o)) => (o.as_fd(), PollFlags::POLLOUT),
            (false, None) => return,
        };
        let (wake, left_at, right_at) = match left_watch {
            Some(l) => (rt.wait(&[l, right_watch], None), Some(0), 1),
            None => (rt.wait(&[right_watch], None), None, 0),
        };
        if left_at.is_some_and(|i| wake.ready(i)) {
            if read_in {
                let n = input
                    .as_mut()
                    .map_or(Ok(0), |i| i.read(&mut buf))
                    .unwrap_or(0);
                if n == 0 {
                    input = None;
                    to_prog = None;
                    record_eof(mode, pid, b'<');
                } else {
                    take(mode, pid, b'<', &buf[..n], &mut prev_in, &mut left);
                }
            } else if !to_prog.as_mut().is_some_and(|t| left.write_to(t)) {
                return;
            }
        }
        if wake.ready(right_at) {
            if right.is_empty() {
                let n = from_prog.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    record_eof(mode, pid, b'>');
                    return;
                }
                take(mode, pid, b'>', &buf[..n], &mut prev_out, &mut right);
            } else if !output.as_mut().is_some_and(|o| right.write_to(o)) {
                return;
            }
        }
    }
}

/// recordio's `PID < [EOF]` or `PID > [EOF]` line for direction `dir`.
fn record_eof(mode: Mode, pid: u32, dir: u8) {
    if mode == Mode::Record {
        let line = format!("{pid} {} [EOF]\n", dir as char);
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
}

/// Records or fixes one chunk of direction `dir` as it is read, and keeps
/// it in `to` to be written on.
fn take(mode: Mode, pid: u32, dir: u8, chunk: &[u8], prev: &mut u8, to: &mut Pending) {
    to.data.clear();
    to.done = 0;
    match mode {
        Mode::Record => {
            let mut lines = Vec::new();
            record(pid, dir, chunk, &mut lines);
            let mut err = std::io::stderr();
            for l in &lines {
                let _ = err.write_all(l);
            }
            to.data.extend_from_slice(chunk);
        }
        Mode::FixCr => fixcr(chunk, prev, &mut to.data),
    }
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

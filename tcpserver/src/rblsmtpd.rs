//! `rblsmtpd [-bBcC] [-t timeout] [-r base]... [-a base]... PROGRAM`:
//! refuse SMTP clients listed in RBL zones (spec/ucspi-helpers.md).
//!
//! No default list (the historic one is dead, as in the Debian build).
//! `$RBLSMTPD` empty accepts, `-TEXT` rejects with 553, other text with 451.
//! Each `-r`/`-a` looks up at once, with the `-b`/`-c` settings in force.
//! A rejected client gets a minimal SMTP dialogue that ends after the
//! timeout. Exit codes: 0 after a dialogue, 100 usage, 111 exec failure,
//! else the program's.

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::time::Instant;

use common::args::{scan_ulong, uint_seconds, Getopt};
use common::diag;
use common::exec;
use common::rt::{Disposition, Runtime};
use nix::poll::PollFlags;
use nix::sys::signal::Signal;

use crate::dns::{self, Rng};

const USAGE: &str =
    "rblsmtpd [ -b ] [ -R ] [ -t timeout ] [ -r base ] [ -a base ] smtpd [ arg ... ]";
/// Default `-t`: seconds of dialogue.
pub const DEFAULT_TIMEOUT: u64 = 60;
/// The message shows at most this much of the text.
const TEXT_MAX: usize = 200;
/// Bytes of a client's line held: the verb is all that is answered, and a
/// line whose first space comes later is no verb the dialogue knows, so
/// the rest of a longer line is read and dropped (the original holds the
/// whole line: a client could make it take any amount of memory).
const LINE_HELD: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    Undecided,
    Accept,
    Reject451(Vec<u8>),
    Reject553(Vec<u8>),
}

/// `1.2.3.4` -> `4.3.2.1.`
pub fn reversed(ip: &[u8]) -> Vec<u8> {
    if ip.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for part in ip.rsplit(|&b| b == b'.') {
        out.extend_from_slice(part);
        out.push(b'.');
    }
    out
}

fn sanitize(b: u8) -> u8 {
    if (32..=126).contains(&b) {
        b
    } else {
        b'?'
    }
}

pub fn main(args: &[OsString]) -> i32 {
    diag::set_program("rblsmtpd");
    let ip = std::env::var_os("TCPREMOTEIP")
        .map(|v| v.as_bytes().to_vec())
        .unwrap_or_default();
    let rev = reversed(&ip);
    let mut decision = match std::env::var_os("RBLSMTPD") {
        Some(v) if v.is_empty() => Decision::Accept,
        Some(v) => match v.as_bytes().strip_prefix(b"-") {
            Some(t) => Decision::Reject553(t.to_vec()),
            None => Decision::Reject451(v.as_bytes().to_vec()),
        },
        None => Decision::Undecided,
    };
    let (mut bounce, mut fail_closed, mut no_bounce) = (false, false, false);
    let mut timeout = DEFAULT_TIMEOUT;
    let mut rng = Rng::new();
    let mut g = Getopt::new(args, "bBcCt:r:a:");
    for opt in g.by_ref() {
        let Ok(opt) = opt else { diag::usage(USAGE) };
        let v = opt.value.map(OsStr::as_bytes).unwrap_or_default();
        match opt.letter {
            b'b' => bounce = true,
            b'B' => bounce = false,
            b'c' => fail_closed = true,
            b'C' => fail_closed = false,
            b't' => timeout = scan_ulong(v).0,
            b'r' if decision == Decision::Undecided => {
                let name = [rev.as_slice(), v].concat();
                match dns::txt(&name, &mut rng) {
                    Err(_) => {
                        no_bounce = true;
                        if fail_closed {
                            decision = Decision::Reject451(b"temporary RBL lookup error".to_vec());
                        }
                    }
                    Ok(text) if !text.is_empty() => {
                        decision = if bounce {
                            Decision::Reject553(text)
                        } else {
                            Decision::Reject451(text)
                        };
                    }
                    Ok(_) => {}
                }
            }
            b'a' if decision == Decision::Undecided => {
                let name = [rev.as_slice(), v].concat();
                match dns::addresses(&name, true, &mut rng) {
                    Err(_) => {
                        no_bounce = true;
                        if !fail_closed {
                            decision = Decision::Accept;
                        }
                    }
                    Ok(list) if !list.is_empty() => decision = Decision::Accept,
                    Ok(_) => {}
                }
            }
            b'r' | b'a' => {}
            _ => diag::usage(USAGE),
        }
    }
    let program = g.operands();
    if program.is_empty() {
        diag::usage(USAGE);
    }
    let (code553, text) = match decision {
        Decision::Reject451(t) => (false, t),
        Decision::Reject553(t) => (true, t),
        Decision::Undecided | Decision::Accept => exec::chain(program, None),
    };
    let mut message = if code553 && !no_bounce {
        b"553 ".to_vec()
    } else {
        b"451 ".to_vec()
    };
    message.extend(text.iter().take(TEXT_MAX));
    let message: Vec<u8> = message.into_iter().map(sanitize).collect();
    dialogue(&ip, &message, timeout)
}

/// The rejecting SMTP dialogue; always exits 0.
fn dialogue(ip: &[u8], message: &[u8], timeout: u64) -> i32 {
    let mut log = format!(
        "rblsmtpd: {} pid {}: ",
        String::from_utf8_lossy(ip),
        std::process::id()
    )
    .into_bytes();
    log.extend_from_slice(message);
    log.push(b'\n');
    diag::write_line(&log);
    let mut out = common::file::stdout();
    let reply = |out: &mut common::file::Stdout, text: &[u8]| {
        let mut v = text.to_vec();
        v.extend_from_slice(b"\r\n");
        out.write_all(&v).is_ok()
    };
    if timeout == 0 {
        reply(&mut out, message);
        return 0;
    }
    // alarm(timeout): seconds modulo 2^32, and an alarm of 0 is none.
    let deadline = Some(uint_seconds(timeout))
        .filter(|t| !t.is_zero())
        .map(|t| Instant::now() + t);
    if !reply(&mut out, b"220 rblsmtpd.local") {
        return 0;
    }
    // Unbuffered: what a buffer held beyond one read (pipelined commands)
    // would wait for the poll below until the deadline.
    let mut input = common::file::stdin();
    let mut line: Vec<u8> = Vec::new();
    let mut buf = [0u8; 1024];
    let Ok(mut rt) = Runtime::new(&[(Signal::SIGPIPE, Disposition::Ignore)]) else {
        return 0;
    };
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return 0;
        }
        if !rt
            .wait(&[(input.as_fd(), PollFlags::POLLIN)], deadline)
            .ready(0)
        {
            continue;
        }
        let n = match input.read(&mut buf) {
            Ok(0) | Err(_) => return 0,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            if b != b'\n' {
                if line.len() < LINE_HELD {
                    line.push(if b == 0 { b'\n' } else { b });
                }
                continue;
            }
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let verb = line
                .split(|&c| c == b' ')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let ok = match verb.as_slice() {
                b"quit" => {
                    reply(&mut out, b"221 rblsmtpd.local");
                    return 0;
                }
                b"helo" | b"ehlo" | b"mail" | b"rset" | b"noop" => {
                    reply(&mut out, b"250 rblsmtpd.local")
                }
                _ => reply(&mut out, message),
            };
            if !ok {
                return 0;
            }
            line.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::reversed;

    #[test]
    fn reverse() {
        assert_eq!(reversed(b"1.2.3.4"), b"4.3.2.1.");
        assert_eq!(reversed(b""), b"");
        assert_eq!(reversed(b"abc"), b"abc.");
    }
}

//! The ident (RFC 1413) query for TCPREMOTEINFO (spec/tcpserver.md).
//!
//! Connects from `local` (port 0) to `remote:113` within the deadline,
//! sends `RPORT , LPORT\r\n`, reads to `\n`: spaces, tabs and `\r` are
//! dropped everywhere, everything after the third `:` is the answer (at
//! most 257 bytes). Any error, timeout or end of file before `\n`: `None`.
//! The answer ends at its first NUL byte: the original hands it on as a C
//! string, to the environment, the rules' `INFO@` keys and the `-v` line
//! alike.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

/// The answer is cut after this many bytes (the original's buffer).
const MAX_INFO: usize = 257;

pub fn query(
    local: SocketAddr,
    remote: SocketAddr,
    timeout: Duration,
    query_ports: (u16, u16),
) -> Option<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let left = || deadline.saturating_duration_since(Instant::now());
    let sock = Socket::new(Domain::for_address(remote), Type::STREAM, None).ok()?;
    sock.set_cloexec(true).ok()?;
    let mut bind = local;
    bind.set_port(0);
    sock.bind(&bind.into()).ok()?;
    let mut to = remote;
    to.set_port(113);
    if timeout.is_zero() {
        return None;
    }
    sock.connect_timeout(&to.into(), left().max(Duration::from_millis(1)))
        .ok()?;
    let mut s: TcpStream = sock.into();
    s.set_write_timeout(Some(left().max(Duration::from_millis(1))))
        .ok()?;
    s.write_all(format!("{} , {}\r\n", query_ports.0, query_ports.1).as_bytes())
        .ok()?;
    let mut colons = 0;
    let mut info = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        let l = left();
        if l.is_zero() {
            return None;
        }
        s.set_read_timeout(Some(l)).ok()?;
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        for &c in &buf[..n] {
            match c {
                b'\n' => return Some(up_to_nul(info)),
                b' ' | b'\t' | b'\r' => {}
                _ if colons < 3 => {
                    if c == b':' {
                        colons += 1;
                    }
                }
                _ => {
                    info.push(c);
                    if info.len() >= MAX_INFO {
                        return Some(up_to_nul(info));
                    }
                }
            }
        }
    }
}

/// `info` up to its first NUL byte, as a C string reads it.
fn up_to_nul(mut info: Vec<u8>) -> Vec<u8> {
    if let Some(p) = info.iter().position(|&c| c == 0) {
        info.truncate(p);
    }
    info
}

#[cfg(test)]
mod tests {
    use super::up_to_nul;

    #[test]
    fn an_answer_ends_at_its_first_nul() {
        assert_eq!(up_to_nul(b"jo\0e\0x".to_vec()), b"jo");
        assert_eq!(up_to_nul(b"\0joe".to_vec()), b"");
        assert_eq!(up_to_nul(b"joe".to_vec()), b"joe");
    }
}

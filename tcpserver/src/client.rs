//! `tcpclient [opts] HOST PORT PROGRAM [ARG...]` (spec/tcpclient.md):
//! connect, then run PROGRAM with the socket on fds 6 (read) and 7 (write).
//!
//! IPv4 and IPv6 in one binary; an IPv4 connection is presented as by the
//! IPv4 build. Exit codes: 100 usage, 111 any failure before the exec,
//! else the program's.

use std::ffi::{OsStr, OsString};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use common::args::{scan_ulong, uint_seconds, Getopt};
use common::diag::{self, errno_of};
use common::exec::{EnvEdit, Prepared};
use common::sys;
use nix::errno::Errno;
use nix::sys::signal::Signal;
use socket2::{Domain, Socket, Type};

use crate::addr::{self, Ip6};
use crate::dns::{self, Rng};
use crate::ident;
use crate::net;

const USAGE: &str = "tcpclient [ -46hHrRdDqQv ] [ -i localip ] [ -p localport ] [ -T timeoutconn ] [ -l localname ] [ -t timeoutinfo ] [ -I interface ] host port program";

/// Default `-T`: first round 2 seconds, second round 58.
pub const DEFAULT_CONNECT: (u64, u64) = (2, 58);
/// Default `-t`: ident timeout, seconds.
pub const DEFAULT_IDENT_TIMEOUT: u64 = 26;

fn ip_text(ip: &Ip6) -> String {
    match addr::as_v4(ip) {
        Some(v4) => addr::fmt4(v4),
        None => addr::fmt6(ip),
    }
}

pub fn main(args: &[OsString]) -> i32 {
    diag::set_program("tcpclient");
    sys::ignore_signal(Signal::SIGPIPE);
    let (mut x, mut y) = DEFAULT_CONNECT;
    let mut local_ip: Option<Ip6> = None;
    let mut local_port: u16 = 0;
    let mut localname: Option<Vec<u8>> = None;
    let mut ident_timeout = DEFAULT_IDENT_TIMEOUT;
    let (mut want_host, mut want_info, mut nodelay, mut verbose) = (true, true, false, false);
    let (mut v4_only, mut present6, mut scope) = (false, false, 0u32);
    let mut quiet = false;
    let mut g = Getopt::new(args, "46hHrRdDqQvi:p:T:l:t:I:");
    for opt in g.by_ref() {
        let Ok(opt) = opt else { diag::usage(USAGE) };
        let v = opt.value.map(OsStr::as_bytes).unwrap_or_default();
        match opt.letter {
            b'4' => v4_only = true,
            b'6' => present6 = true,
            b'h' => want_host = true,
            b'H' => want_host = false,
            b'r' => want_info = true,
            b'R' => want_info = false,
            b'd' => nodelay = false,
            b'D' => nodelay = true,
            b'q' => (quiet, verbose) = (true, false),
            b'Q' => (quiet, verbose) = (false, false),
            b'v' => (quiet, verbose) = (false, true),
            // The original's scan: an address at the start is enough.
            b'i' => match addr::scan6(v) {
                Some((a, _)) => local_ip = Some(a),
                None => diag::usage(USAGE),
            },
            b'p' => local_port = scan_ulong(v).0 as u16,
            b'T' => {
                let (a, n) = scan_ulong(v);
                x = a;
                let rest = &v[n..];
                let rest = rest.strip_prefix(b"+").unwrap_or(rest);
                y = scan_ulong(rest).0;
            }
            b'l' => localname = Some(v.to_vec()),
            b't' => ident_timeout = scan_ulong(v).0,
            b'I' => scope = net::if_index(v),
            _ => diag::usage(USAGE),
        }
    }
    diag::set_quiet(quiet);
    let rest = g.operands();
    if rest.len() < 2 {
        diag::usage(USAGE);
    }
    let host = rest[0].as_bytes();
    let port = net::port(rest[1].as_bytes())
        .unwrap_or_else(|| diag::fatal(&[&"unable to figure out port number for ", &rest[1]]));
    if rest.len() < 3 {
        diag::usage(USAGE);
    }
    let program = &rest[2..];
    let mut rng = Rng::new();
    let addrs: Vec<Ip6> = if host.is_empty() || host == b"0" {
        if present6 && !v4_only {
            vec![std::net::Ipv6Addr::LOCALHOST.octets()]
        } else {
            vec![addr::mapped([127, 0, 0, 1])]
        }
    } else {
        match dns::resolve_host(host, v4_only, &mut rng) {
            Err(e) => diag::fatal_sys(
                &[
                    &"temporarily unable to figure out IP address for ",
                    &rest[0],
                ],
                e,
            ),
            Ok(l) if l.is_empty() => diag::fatal(&[&"no IP address for ", &rest[0]]),
            Ok(l) => l,
        }
    };
    if addrs.len() == 1 {
        x = x.wrapping_add(y);
        y = 0;
    }
    let local_bind = local_ip.unwrap_or(addr::mapped([0, 0, 0, 0]));

    let attempt = |ip: &Ip6, secs: u64| -> Result<Socket, Errno> {
        let v4 = v4_only || addr::as_v4(ip).is_some();
        let domain = if v4 { Domain::IPV4 } else { Domain::IPV6 };
        let s = Socket::new(domain, Type::STREAM.cloexec(), None)
            .unwrap_or_else(|e| diag::fatal_sys(&[&"unable to create socket"], errno_of(&e)));
        let bind_ip = if v4 {
            local_bind
        } else if addr::as_v4(&local_bind) == Some([0, 0, 0, 0]) {
            addr::ANY6
        } else {
            local_bind
        };
        if let Err(e) = s.bind(&net::join(&bind_ip, local_port, scope, v4).into()) {
            diag::fatal_sys(&[&"unable to bind socket"], errno_of(&e));
        }
        let to = net::join(ip, port, scope, v4);
        // The original's deadline is now + secs (mod 2^32); its poll rounds
        // up by 20 ms, so even 0 gives a loopback connect its chance.
        let t = Some(uint_seconds(secs))
            .filter(|t| !t.is_zero())
            .unwrap_or(Duration::from_millis(20));
        match s.connect_timeout(&to.into(), t) {
            // Writable is not connected (a connect to port 0 is
            // writable at once): as the original, the peer's address says,
            // and where there is none a one-byte read gives the reason.
            Ok(()) if s.peer_addr().is_err() => {
                let _ = s.set_nonblocking(true);
                let mut b = [std::mem::MaybeUninit::new(0u8)];
                Err(match s.recv(&mut b) {
                    Err(e) => errno_of(&e),
                    Ok(_) => Errno::ENOTCONN,
                })
            }
            Ok(()) => Ok(s),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Err(Errno::ETIMEDOUT),
            Err(e) => Err(errno_of(&e)),
        }
    };
    let report = |ip: &Ip6, e: Errno| {
        let mut v = format!(
            "tcpclient: unable to connect to {} port {port}: ",
            ip_text(ip)
        )
        .into_bytes();
        v.extend_from_slice(diag::errstr(e).as_bytes());
        v.push(b'\n');
        diag::write_line(&v);
    };
    let mut conn = None;
    let mut retry = Vec::new();
    for ip in &addrs {
        match attempt(ip, x) {
            Ok(s) => {
                conn = Some(s);
                break;
            }
            Err(Errno::ETIMEDOUT) if y != 0 => retry.push(*ip),
            Err(e) => report(ip, e),
        }
    }
    if conn.is_none() {
        for ip in &retry {
            match attempt(ip, y) {
                Ok(s) => {
                    conn = Some(s);
                    break;
                }
                Err(e) => report(ip, e),
            }
        }
    }
    let Some(conn) = conn else {
        return diag::EXIT_TEMP;
    };
    if nodelay {
        let _ = conn.set_tcp_nodelay(true);
    }
    let local: SocketAddr = conn
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .unwrap_or_else(|| diag::fatal_sys(&[&"unable to get local address"], Errno::ENOTCONN));
    let remote: SocketAddr = match conn.peer_addr() {
        Ok(a) => a
            .as_socket()
            .unwrap_or_else(|| diag::fatal_sys(&[&"unable to get remote address"], Errno::EINVAL)),
        Err(e) => diag::fatal_sys(&[&"unable to get remote address"], errno_of(&e)),
    };
    let (lip, lport, _) = net::split(&local);
    let (rip, rport, _) = net::split(&remote);
    let fake4 = !present6 && (addr::as_v4(&lip).is_some() || lip == addr::ANY6);
    let text = |ip: &Ip6| {
        if fake4 {
            addr::fmt4(addr::as_v4(ip).unwrap_or_default())
        } else {
            addr::fmt6(ip)
        }
    };

    let mut env = EnvEdit::new();
    env.set("PROTO", if fake4 { "TCP" } else { "TCP6" });
    env.set("TCPLOCALPORT", lport.to_string());
    env.set("TCPLOCALIP", text(&lip));
    let set_or_unset = |env: &mut EnvEdit, name: &str, v: Option<Vec<u8>>| match v {
        Some(v) => env.set(name, OsStr::from_bytes(&v)),
        None => env.unset(name),
    };
    let local_host = match localname {
        Some(n) => Some(n),
        // Empty when there is no PTR record; absent when the lookup failed.
        None => dns::name_of(&lip, &mut rng)
            .ok()
            .map(Option::unwrap_or_default),
    };
    set_or_unset(&mut env, "TCPLOCALHOST", local_host);
    env.set("TCPREMOTEPORT", rport.to_string());
    let remote_ip = text(&rip);
    env.set("TCPREMOTEIP", &remote_ip);
    if verbose {
        diag::write_line(format!("tcpclient: connected to {remote_ip} port {rport}\n").as_bytes());
    }
    let remote_host = if want_host {
        dns::name_of(&rip, &mut rng)
            .ok()
            .map(Option::unwrap_or_default)
    } else {
        None
    };
    set_or_unset(&mut env, "TCPREMOTEHOST", remote_host);
    let info = if want_info {
        ident::query(local, remote, uint_seconds(ident_timeout), (rport, lport))
    } else {
        None
    };
    set_or_unset(&mut env, "TCPREMOTEINFO", info);

    let fd: OwnedFd = conn.into();
    for (target, what) in [
        (6, "unable to set up descriptor 6"),
        (7, "unable to set up descriptor 7"),
    ] {
        if fd.as_raw_fd() != target {
            if let Err(e) = sys::dup_onto(std::os::fd::AsFd::as_fd(&fd), target) {
                diag::fatal_sys(&[&what], e);
            }
        }
    }
    if fd.as_raw_fd() == 6 || fd.as_raw_fd() == 7 {
        std::mem::forget(fd);
    } else {
        drop(fd);
    }
    let prepared = Prepared::new(program, Some(&env));
    sys::default_signal(Signal::SIGPIPE);
    // Descriptors 0-2 are passed on as they came, a closed one closed.
    sys::reclose_standard_descriptors();
    let e = prepared.exec();
    diag::fatal_sys(&[&"unable to run ", &program[0]], e)
}

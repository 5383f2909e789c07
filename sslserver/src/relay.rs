//! The TLS process of one connection: handshake, the program's start,
//! and the relay between TLS records on the socket and plaintext on the
//! program's pipes, until the program has closed its output and all of it
//! has reached the client. Exits with the program's status (or dies of its
//! signal), so tcpserver's `end PID status S` line reads as under
//! tcpserver.
//!
//! Back-pressure both ways: the socket is read only when the program has
//! taken everything read before, and the program only when the client has
//! taken everything encrypted before, so a connection holds at most one
//! chunk (`CHUNK`) in each direction.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::diag::{self, errno_of};
use common::exec::Prepared;
use common::rt::{Disposition, Ended, FdAction, Runtime};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::PollFlags;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use rustls::{ServerConfig, ServerConnection};
use tcpserver::server::{dropping, Connection};

use crate::der;

/// What the TLS process needs besides the connection.
pub struct Settings {
    pub config: Arc<ServerConfig>,
    /// `-s`.
    pub ssl_env: bool,
    /// `-n`.
    pub delay: bool,
    pub handshake_timeout: Duration,
}

/// The program's fd for the UCSPI-TLS control pipe (`$SSLCTLFD`, `-n`).
pub const CTL_FD: i32 = 3;

/// Plaintext moved at a time: up to four TLS records (a quarter of the
/// polls and writes of one record at a time: 100 MB through one session
/// at 1.8x stunnel's rate, against 1.0x with 16 KiB).
const CHUNK: usize = 64 * 1024;

/// `sslserver: warning: dropping connection, TEXT`, exit 111.
fn drop_conn(text: &str) -> ! {
    dropping(&[&text], None)
}

fn drop_sys(parts: &[&dyn diag::Part], e: Errno) -> ! {
    dropping(parts, Some(e))
}

/// A pipe whose ends are close-on-exec (the program gets its copies
/// through the spawn's descriptor plan).
fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(OFlag::O_CLOEXEC)
        .unwrap_or_else(|e| drop_sys(&[&"unable to create pipe"], e))
}

fn nonblocking(fd: &impl AsFd) {
    let _ = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
}

pub fn run(c: Connection<'_>, s: Settings) -> ! {
    let pid = std::process::id();
    let mut rt = Runtime::new(&[(Signal::SIGPIPE, Disposition::Ignore)])
        .unwrap_or_else(|e| drop_sys(&[&"unable to set up signals"], e));
    let sock = TcpStream::from(c.socket);
    nonblocking(&sock);
    let mut tls = ServerConnection::new(s.config.clone())
        .unwrap_or_else(|e| drop_conn(&format!("unable to start TLS: {e}")));
    let mut env = c.env;
    let mut relay = Relay {
        sock,
        tls: None,
        to_prog: None,
        to_prog_buf: Vec::new(),
        from_prog: None,
        plain_out: Vec::new(),
        net_eof: false,
        net_dead: false,
        closing: false,
    };
    // With `-n`, the session waits for the program's `Y`.
    let mut pending = None;
    if !s.delay {
        let deadline = Instant::now() + s.handshake_timeout;
        if let Err(why) = handshake(&mut rt, &mut tls, &mut relay.sock, deadline) {
            drop_conn(&format!("unable to accept SSL: {why}"));
        }
        established(&tls, pid, c.verbose, s.ssl_env.then_some(&mut env));
        if !c.banner.is_empty() {
            let _ = tls.writer().write_all(c.banner);
        }
        relay.tls = Some(tls);
    } else {
        env.set("SSLCTLFD", CTL_FD.to_string());
        env.set("SSLREADFD", "0");
        env.set("SSLWRITEFD", "1");
        pending = Some(tls);
    }
    let (to_r, to_w) = pipe();
    let (from_r, from_w) = pipe();
    let ctl = s.delay.then(pipe);
    let mut fds = vec![
        FdAction(to_r.as_raw_fd(), 0),
        FdAction(from_w.as_raw_fd(), 1),
    ];
    if let Some((_, w)) = &ctl {
        fds.push(FdAction(w.as_raw_fd(), CTL_FD));
    }
    let prepared = Prepared::new(c.program, Some(&env));
    let child = rt
        .spawner()
        .spawn(&prepared, &fds, None)
        .unwrap_or_else(|e| match e {
            // posix_spawn's EAGAIN is its clone's (out of processes): what
            // tcpserver, and ucspi-ssl's relay, call `unable to fork`.
            Errno::EAGAIN => drop_sys(&[&"unable to fork"], e),
            e => drop_sys(&[&"unable to run ", &c.program[0]], e),
        });
    drop((to_r, from_w, prepared, env, fds));
    nonblocking(&to_w);
    relay.to_prog = Some(File::from(to_w));
    let from = File::from(from_r);
    nonblocking(&from);
    relay.from_prog = Some(from);
    let ctl = ctl.map(|(r, w)| {
        drop(w);
        File::from(r)
    });
    relay.run(&mut rt, ctl, pending, &s, pid, c.verbose);
    drop(relay);
    exit_as(child, c.program)
}

/// Waits for the program and ends as it did.
fn exit_as(child: Pid, program: &[OsString]) -> ! {
    loop {
        match Ended::wait_for(child) {
            Ok(ended) => match (ended.code(), ended.signal()) {
                (Some(code), _) => std::process::exit(code),
                (None, Some(sig)) => {
                    // Ended by the same signal, a real-time one included.
                    if let Ok(sig) = Signal::try_from(sig) {
                        common::sys::default_signal(sig);
                    }
                    let _ = common::sys::kill_number(nix::unistd::getpid(), sig);
                    std::process::exit(diag::EXIT_TEMP)
                }
                (None, None) => {}
            },
            Err(Errno::EINTR) => {}
            Err(e) => drop_sys(&[&"unable to wait for ", &program[0]], e),
        }
    }
}

/// After a handshake: the `tls` log line, and with `-s` the SSL_*
/// variables.
fn established(
    tls: &ServerConnection,
    pid: u32,
    verbose: bool,
    env: Option<&mut common::exec::EnvEdit>,
) {
    let proto = protocol_name(tls);
    let cipher = cipher_name(tls);
    if verbose {
        diag::write_line(format!("{}: tls {pid} {proto} {cipher}\n", diag::program()).as_bytes());
    }
    let Some(env) = env else { return };
    env.set("SSL_PROTOCOL", proto);
    env.set("SSL_CIPHER", cipher);
    match tls.server_name() {
        Some(n) => env.set("SSL_TLS_SNI_SERVERNAME", n),
        None => env.unset("SSL_TLS_SNI_SERVERNAME"),
    }
    match tls.peer_certificates().and_then(|c| c.first()) {
        Some(cert) => {
            env.set(
                "SSL_CLIENT_S_DN",
                der::subject_oneline(cert).unwrap_or_default(),
            );
            let d = ring_sha256(cert);
            env.set("SSL_CLIENT_CERT_HASH", d);
        }
        None => {
            env.unset("SSL_CLIENT_S_DN");
            env.unset("SSL_CLIENT_CERT_HASH");
        }
    }
}

/// Lower-case hex SHA-256 of a certificate's DER bytes.
fn ring_sha256(cert: &[u8]) -> String {
    let hash = crate::config::provider()
        .cipher_suites
        .iter()
        .filter_map(|s| s.tls13())
        .map(|s| s.common.hash_provider)
        .find(|h| h.algorithm() == rustls::crypto::hash::HashAlgorithm::SHA256)
        .map(|h| h.hash(cert));
    match hash {
        Some(h) => h.as_ref().iter().map(|b| format!("{b:02x}")).collect(),
        None => String::new(),
    }
}

/// OpenSSL's name of the protocol version (`SSL_get_version`).
pub fn protocol_name(tls: &ServerConnection) -> &'static str {
    match tls.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "unknown",
    }
}

/// OpenSSL's name of the cipher suite, as ucspi-ssl reports it.
pub fn cipher_name(tls: &ServerConnection) -> String {
    use rustls::CipherSuite as C;
    let Some(s) = tls.negotiated_cipher_suite() else {
        return "unknown".into();
    };
    let name = match s.suite() {
        C::TLS13_AES_128_GCM_SHA256 => "TLS_AES_128_GCM_SHA256",
        C::TLS13_AES_256_GCM_SHA384 => "TLS_AES_256_GCM_SHA384",
        C::TLS13_CHACHA20_POLY1305_SHA256 => "TLS_CHACHA20_POLY1305_SHA256",
        C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => "ECDHE-ECDSA-AES128-GCM-SHA256",
        C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => "ECDHE-ECDSA-AES256-GCM-SHA384",
        C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-ECDSA-CHACHA20-POLY1305",
        C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => "ECDHE-RSA-AES128-GCM-SHA256",
        C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => "ECDHE-RSA-AES256-GCM-SHA384",
        C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-RSA-CHACHA20-POLY1305",
        other => return format!("{other:?}"),
    };
    name.into()
}

/// Drives a handshake on the non-blocking socket until it is complete
/// and everything of ours is sent, or `deadline` passes; the reason
/// otherwise.
fn handshake(
    rt: &mut Runtime,
    tls: &mut ServerConnection,
    sock: &mut TcpStream,
    deadline: Instant,
) -> Result<(), String> {
    loop {
        while tls.wants_write() {
            match tls.write_tls(sock) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    wait_for(rt, sock, PollFlags::POLLOUT, deadline)?;
                }
                Err(e) => return Err(diag::ioerrstr(&e).to_string()),
            }
        }
        if !tls.is_handshaking() {
            return Ok(());
        }
        match tls.read_tls(sock) {
            Ok(0) => return Err("connection closed".into()),
            Ok(_) => {
                if let Err(e) = tls.process_new_packets() {
                    // The alert, if it can go at once.
                    let _ = tls.write_tls(sock);
                    return Err(e.to_string());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                wait_for(rt, sock, PollFlags::POLLIN, deadline)?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(diag::ioerrstr(&e).to_string()),
        }
    }
}

/// Waits for `sock` to be ready for `ev`, or fails at `deadline`.
fn wait_for(
    rt: &mut Runtime,
    sock: &TcpStream,
    ev: PollFlags,
    deadline: Instant,
) -> Result<(), String> {
    if Instant::now() >= deadline {
        return Err("timed out".into());
    }
    rt.wait(&[(sock.as_fd(), ev)], Some(deadline));
    Ok(())
}

struct Relay {
    sock: TcpStream,
    /// The TLS session once it is up (at once, or after `-n`'s `Y`).
    tls: Option<ServerConnection>,
    to_prog: Option<File>,
    to_prog_buf: Vec<u8>,
    from_prog: Option<File>,
    /// `-n`, before the handshake: the program's plaintext for the client.
    plain_out: Vec<u8>,
    /// No more from the client (EOF, close_notify, or an error).
    net_eof: bool,
    /// The client can take no more (a write failed).
    net_dead: bool,
    /// close_notify queued.
    closing: bool,
}

impl Relay {
    /// Whether something is waiting to go to the client.
    fn wants_out(&self) -> bool {
        !self.net_dead
            && match &self.tls {
                Some(t) => t.wants_write(),
                None => !self.plain_out.is_empty(),
            }
    }

    fn run(
        &mut self,
        rt: &mut Runtime,
        mut ctl: Option<File>,
        mut pending_tls: Option<ServerConnection>,
        s: &Settings,
        pid: u32,
        verbose: bool,
    ) {
        let mut buf = vec![0u8; CHUNK];
        // `-n`: a TLS record from the client (a ClientHello) before the
        // program's `Y`; it stays in the socket until `Y` or the control
        // pipe's end.
        let mut hold_net = false;
        loop {
            if self.to_prog_buf.is_empty() && !self.net_eof {
                self.pull_plaintext(&mut buf);
            }
            if self.from_prog.is_none() {
                if let (Some(t), false) = (&mut self.tls, self.closing) {
                    t.send_close_notify();
                    self.closing = true;
                }
                if !self.wants_out() {
                    let _ = self.sock.shutdown(std::net::Shutdown::Write);
                    return;
                }
            }
            if self.net_eof && self.to_prog_buf.is_empty() {
                self.to_prog = None;
            }
            if self.to_prog.is_none() {
                self.to_prog_buf.clear();
            }
            let read_net = !self.net_eof && !hold_net && self.to_prog_buf.is_empty();
            let write_net = self.wants_out();
            let mut net_ev = PollFlags::empty();
            if read_net {
                net_ev |= PollFlags::POLLIN;
            }
            if write_net {
                net_ev |= PollFlags::POLLOUT;
            }
            let read_prog = self.from_prog.is_some() && !write_net;
            let write_prog = !self.to_prog_buf.is_empty();
            let wake = {
                let mut watch = Vec::with_capacity(4);
                let mut idx = [usize::MAX; 4];
                if !net_ev.is_empty() {
                    idx[0] = watch.len();
                    watch.push((self.sock.as_fd(), net_ev));
                }
                if let (true, Some(f)) = (read_prog, &self.from_prog) {
                    idx[1] = watch.len();
                    watch.push((f.as_fd(), PollFlags::POLLIN));
                }
                if let (true, Some(f)) = (write_prog, &self.to_prog) {
                    idx[2] = watch.len();
                    watch.push((f.as_fd(), PollFlags::POLLOUT));
                }
                if let Some(f) = &ctl {
                    idx[3] = watch.len();
                    watch.push((f.as_fd(), PollFlags::POLLIN));
                }
                if watch.is_empty() {
                    // Nothing can move: the program's output is gone and
                    // the client's too.
                    return;
                }
                let w = rt.wait(&watch, None);
                idx.map(|i| i != usize::MAX && w.ready(i))
            };
            if wake[3] {
                match ctl.as_mut().map(|f| f.read(&mut buf[..64])) {
                    Some(Ok(0)) | Some(Err(_)) => {
                        ctl = None;
                        hold_net = false;
                    }
                    Some(Ok(n)) if buf[..n].contains(&b'Y') || buf[..n].contains(&b'y') => {
                        ctl = None;
                        hold_net = false;
                        self.start_tls(rt, pending_tls.take(), s, pid, verbose, &mut buf);
                        continue;
                    }
                    Some(Ok(_)) => {}
                    None => {}
                }
            }
            if wake[0] {
                if read_net {
                    if ctl.is_some() && self.tls.is_none() && self.peek_is_tls() {
                        hold_net = true;
                    } else {
                        self.read_net(&mut buf);
                    }
                }
                if write_net {
                    self.write_net();
                }
            }
            if wake[1] {
                self.read_prog(&mut buf);
            }
            if wake[2] {
                self.write_prog();
            }
        }
    }

    /// Whether the client's next byte starts a TLS handshake record.
    fn peek_is_tls(&self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.sock.peek(&mut b), Ok(1) if b[0] == 0x16)
    }

    /// `-n`'s `Y`: what the program wrote before it goes out in plaintext,
    /// then the handshake; TLS from then on.
    fn start_tls(
        &mut self,
        rt: &mut Runtime,
        tls: Option<ServerConnection>,
        s: &Settings,
        pid: u32,
        verbose: bool,
        buf: &mut [u8],
    ) {
        let Some(mut tls) = tls else { return };
        let deadline = Instant::now() + s.handshake_timeout;
        // The program's reply before `Y` is in its pipe already.
        while let Some(Ok(n)) = self.from_prog.as_mut().map(|f| f.read(buf)) {
            if n == 0 {
                break;
            }
            self.plain_out.extend_from_slice(&buf[..n]);
        }
        while !self.plain_out.is_empty() {
            match self.sock.write(&self.plain_out) {
                Ok(n) => {
                    self.plain_out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Err(why) = wait_for(rt, &self.sock, PollFlags::POLLOUT, deadline) {
                        drop_conn(&format!("unable to accept SSL: {why}"));
                    }
                }
                Err(e) => drop_sys(&[&"unable to write to the client"], errno_of(&e)),
            }
        }
        if let Err(why) = handshake(rt, &mut tls, &mut self.sock, deadline) {
            drop_conn(&format!("unable to accept SSL: {why}"));
        }
        established(&tls, pid, verbose, None);
        self.tls = Some(tls);
    }

    fn read_net(&mut self, buf: &mut [u8]) {
        let Some(tls) = &mut self.tls else {
            match self.sock.read(buf) {
                Ok(0) => self.net_eof = true,
                Ok(n) => self.to_prog_buf.extend_from_slice(&buf[..n]),
                Err(e) if retry(&e) => {}
                Err(_) => self.net_eof = true,
            }
            return;
        };
        match tls.read_tls(&mut self.sock) {
            Ok(0) => self.net_eof = true,
            Ok(_) => {
                if tls.process_new_packets().is_err() {
                    // A bad record: the alert goes out, the connection ends.
                    let _ = tls.write_tls(&mut self.sock);
                    self.net_eof = true;
                    self.net_dead = true;
                    self.from_prog = None;
                    return;
                }
                self.pull_plaintext(buf);
            }
            Err(e) if retry(&e) => {}
            Err(_) => self.net_eof = true,
        }
    }

    /// What TLS has decrypted and not handed on yet (also what came with
    /// the client's last handshake message) into the program's buffer.
    fn pull_plaintext(&mut self, buf: &mut [u8]) {
        let Some(tls) = &mut self.tls else { return };
        loop {
            match tls.reader().read(buf) {
                // close_notify.
                Ok(0) => {
                    self.net_eof = true;
                    return;
                }
                Ok(n) => self.to_prog_buf.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.net_eof = true;
                    return;
                }
            }
        }
    }

    fn write_net(&mut self) {
        let r = match &mut self.tls {
            Some(t) => t.write_tls(&mut self.sock),
            None => self.sock.write(&self.plain_out).inspect(|&n| {
                self.plain_out.drain(..n);
            }),
        };
        match r {
            Ok(_) => {}
            Err(e) if retry(&e) => {}
            Err(_) => {
                // The client is gone: the program gets EPIPE on its output.
                self.net_dead = true;
                self.net_eof = true;
                self.from_prog = None;
            }
        }
    }

    fn read_prog(&mut self, buf: &mut [u8]) {
        let Some(f) = &mut self.from_prog else { return };
        match f.read(buf) {
            Ok(0) => self.from_prog = None,
            Ok(n) => match &mut self.tls {
                Some(t) => {
                    let _ = t.writer().write_all(&buf[..n]);
                }
                None => self.plain_out.extend_from_slice(&buf[..n]),
            },
            Err(e) if retry(&e) => {}
            Err(_) => self.from_prog = None,
        }
    }

    fn write_prog(&mut self) {
        let Some(f) = &mut self.to_prog else { return };
        match f.write(&self.to_prog_buf) {
            Ok(n) => {
                self.to_prog_buf.drain(..n);
            }
            Err(e) if retry(&e) => {}
            Err(_) => {
                // The program closed its input: the rest is dropped.
                self.to_prog = None;
                self.to_prog_buf.clear();
            }
        }
    }
}

fn retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

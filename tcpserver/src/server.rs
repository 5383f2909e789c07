//! `tcpserver [opts] HOST PORT PROGRAM [ARG...]` (spec/tcpserver.md).
//!
//! One binary for IPv4 and IPv6: HOST `0` (or `::`, or empty) listens
//! dual-stack; IPv4 clients are presented exactly as by the IPv4 build
//! (PROTO=TCP, dotted quads, the IPv4 log line), IPv6 clients as by the
//! IPv6 build (PROTO=TCP6 and the TCP6* twins). The parent accepts and
//! reaps (the common runtime's loop and reaper, which keeps pid -> client
//! address). Every connection's work is one function, `decide`: lookups
//! (DNS, ident, rules: only the records it needs), environment, rules,
//! per-IP limit. It runs in a forked child, as the original's, whenever it
//! may block or print a line that names the child (`-h`, `-r`, no `-l`, a
//! banner, `-v`); then the child execs. Otherwise (`-H -R -l`, the usual
//! way to run a busy server) nothing in it can wait on the network, and
//! the parent runs it and starts the program itself with the runtime's
//! spawner: with posix_spawn when the server may run on one CPU (nothing of
//! the parent is copied), by fork + exec with more (the exec then runs on
//! another CPU while the parent accepts). The client, the program and the
//! log see the same bytes either way. sslserver (its own
//! crate) is this same server with a [`Flavor`] of its own: its options,
//! a step before privileges are dropped, its environment names, and what
//! the child does last instead of the exec. Exit codes: parent 100 usage, 111 set-up failure, 0
//! on SIGTERM; child 100 denied (or over its per-IP limit), 111 dropped,
//! else the program's.
//!
//! Per-IP limits (an extension, docs/rules.md): the parent counts its
//! children by client (an IPv4 address, an IPv6 /64) and each child knows
//! its count from the fork; the child, once the rules have spoken
//! (`MAXCONNIP`/`MAXCONIP`, else `-C`), refuses a connection over the limit
//! with `$DIEMSG` and CRLF, and sets `TCPCONNNUM` when a limit applies.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::time::Instant;

use common::args::{fmt_ulong, scan_ulong, uint_seconds, Getopt};
use common::diag::{self, errno_of};
use common::exec::{EnvEdit, Environ, Prepared};
use common::rt::{Backoff, Disposition, FdAction, Reaper, Runtime, SpawnPlan, Spawner};
use common::rules::{self, Entry};
use common::sys::{self, Forked};
use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::sys::signal::Signal;
use nix::unistd::{Gid, Uid};
use socket2::{Domain, Socket, Type};

use crate::addr::{self, Ip6};
use crate::dns::{self, Rng};
use crate::ident;
use crate::net;

const USAGE: &str = "tcpserver [ -461UXpPhHrRoOdDqQv ] [ -c limit ] [ -x rules.cdb ] [ -B banner ] [ -g gid ] [ -u uid ] [ -b backlog ] [ -l localname ] [ -t timeout ] [ -I interface ] host port program";

/// tcpserver's option letters, in getopt syntax.
pub const LETTERS: &str = "461UXpPhHrRoOdDqQvc:C:x:B:g:u:b:l:t:I:";

/// Default `-c`: simultaneous children.
pub const DEFAULT_LIMIT: u64 = 40;
/// Default `-b`: listen backlog.
pub const DEFAULT_BACKLOG: u64 = 20;
/// Default `-t`: ident timeout, seconds.
pub const DEFAULT_IDENT_TIMEOUT: u64 = 26;
/// A log field shows at most this many bytes.
const FIELD_MAX: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

/// What a server built on this accept loop does differently from
/// tcpserver: sslserver is one. Everything else (options, rules, limits,
/// lookups, log lines) is this module's, for both.
pub trait Flavor {
    /// The program name: message prefix and log lines.
    fn name(&self) -> &'static str;
    /// The usage line.
    fn usage(&self) -> &'static str;
    /// Every option letter, in getopt syntax (`x:` takes a value):
    /// [`LETTERS`] and its own.
    fn letters(&self) -> &'static str;
    /// One of its own options (a letter not in [`LETTERS`]).
    fn option(&mut self, letter: u8, value: Option<&OsStr>);
    /// After the socket listens, before privileges are dropped: load what
    /// only the starting user may read.
    fn prepare(&mut self) {}
    /// The environment names of a connection.
    fn protocol(&self) -> Protocol;
    /// Whether the client speaks plaintext on the socket from the start
    /// (tcpserver; sslserver `-n`): then `-B`'s banner is written before
    /// the lookups, and `$DIEMSG` to a client over its per-IP limit.
    /// Otherwise the banner is left to [`Flavor::connection`] and no
    /// `$DIEMSG` is written (a TLS client would read it as garbage).
    fn plaintext_first(&self) -> bool;
    /// The last step of an allowed connection's child (rules passed,
    /// environment ready, `ok` line written): run the program.
    fn connection(&self, c: Connection<'_>) -> !;
    /// Whether that last step is only running the program on the socket
    /// as fds 0 and 1: then, when no lookup needs a child, the parent
    /// decides and starts the program itself.
    fn runs_program(&self) -> bool {
        false
    }
}

/// The environment names a flavor sets for each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protocol {
    /// `PROTO`: `TCP` (`TCP6` for IPv6 clients), or `SSL`.
    pub ssl: bool,
    /// With `ssl`: the `TCP*` variables too (sslserver `-e`).
    pub tcp_too: bool,
}

/// An allowed connection, handed to [`Flavor::connection`].
pub struct Connection<'a> {
    pub socket: OwnedFd,
    pub env: EnvEdit,
    pub program: &'a [OsString],
    /// `-B`, when the flavor writes it itself.
    pub banner: &'a [u8],
    /// `-v`.
    pub verbose: bool,
    /// The program made ready at start, where the flavor runs it on the
    /// socket ([`Flavor::runs_program`]).
    pub ready: Option<&'a mut Ready>,
}

/// tcpserver itself: the socket becomes fds 0 and 1 of the program.
pub struct Tcp;

impl Flavor for Tcp {
    fn name(&self) -> &'static str {
        "tcpserver"
    }
    fn usage(&self) -> &'static str {
        USAGE
    }
    fn letters(&self) -> &'static str {
        LETTERS
    }
    fn option(&mut self, _: u8, _: Option<&OsStr>) {
        diag::usage(USAGE)
    }
    fn protocol(&self) -> Protocol {
        Protocol {
            ssl: false,
            tcp_too: false,
        }
    }
    fn plaintext_first(&self) -> bool {
        true
    }
    fn connection(&self, c: Connection<'_>) -> ! {
        // The socket may already be fd 0 or 1 (the parent keeps both free):
        // then it is only made inheritable there, and not closed.
        let fd = c.socket;
        let raw = fd.as_raw_fd();
        if let Err(e) = sys::dup_raw_onto(raw, 0).and_then(|()| sys::dup_raw_onto(raw, 1)) {
            drop_conn(&[&"unable to set up descriptors"], e);
        }
        if raw <= 1 {
            std::mem::forget(fd);
        } else {
            drop(fd);
        }
        sys::default_signal(Signal::SIGPIPE);
        // (The server makes it ready at start for this flavor.)
        let mut here;
        let ready = match c.ready {
            Some(r) => r,
            None => {
                here = Ready::new(c.program);
                &mut here
            }
        };
        let e = ready.exec(&c.env);
        drop_conn(&[&"unable to run ", &c.program[0]], e)
    }
    fn runs_program(&self) -> bool {
        true
    }
}

/// The command line, parsed.
struct Opts {
    limit: u64,
    rules: Option<OsString>,
    rules_missing_ok: bool,
    banner: Vec<u8>,
    gid: u32,
    uid: u32,
    print_port: bool,
    backlog: u64,
    localname: Option<Vec<u8>>,
    ident_timeout: u64,
    remote_host: bool,
    paranoid: bool,
    ident: bool,
    nodelay: bool,
    /// `-o`: leave IP options on connections (default `-O`: remove them).
    keep_ip_options: bool,
    verbosity: Verbosity,
    /// `-C`: at most this many connections per client.
    per_ip: Option<u64>,
    v4_only: bool,
    present6: bool,
    scope: u32,
    host: Vec<u8>,
    port: u16,
    program: Vec<OsString>,
}

fn parse(args: &[OsString], flavor: &mut dyn Flavor) -> Opts {
    let mut o = Opts {
        limit: DEFAULT_LIMIT,
        rules: None,
        rules_missing_ok: false,
        banner: Vec::new(),
        gid: 0,
        uid: 0,
        print_port: false,
        backlog: DEFAULT_BACKLOG,
        localname: None,
        ident_timeout: DEFAULT_IDENT_TIMEOUT,
        remote_host: true,
        paranoid: false,
        ident: true,
        nodelay: false,
        keep_ip_options: false,
        verbosity: Verbosity::Normal,
        per_ip: None,
        v4_only: false,
        present6: false,
        scope: 0,
        host: Vec::new(),
        port: 0,
        program: Vec::new(),
    };
    let num = |v: Option<&OsStr>| scan_ulong(v.map(OsStr::as_bytes).unwrap_or_default()).0;
    let usage = flavor.usage();
    let mut g = Getopt::new(args, flavor.letters());
    for opt in g.by_ref() {
        let Ok(opt) = opt else { diag::usage(usage) };
        let v = opt.value;
        match opt.letter {
            b'4' => o.v4_only = true,
            b'6' => o.present6 = true,
            b'1' => o.print_port = true,
            b'U' => {
                if let Some(u) = std::env::var_os("UID") {
                    o.uid = scan_ulong(u.as_bytes()).0 as u32;
                }
                if let Some(g) = std::env::var_os("GID") {
                    o.gid = scan_ulong(g.as_bytes()).0 as u32;
                }
            }
            b'X' => o.rules_missing_ok = true,
            b'p' => o.paranoid = true,
            b'P' => o.paranoid = false,
            b'h' => o.remote_host = true,
            b'H' => o.remote_host = false,
            b'r' => o.ident = true,
            b'R' => o.ident = false,
            b'o' => o.keep_ip_options = true,
            b'O' => o.keep_ip_options = false,
            b'd' => o.nodelay = false,
            b'D' => o.nodelay = true,
            b'q' => o.verbosity = Verbosity::Quiet,
            b'Q' => o.verbosity = Verbosity::Normal,
            b'v' => o.verbosity = Verbosity::Verbose,
            b'c' => o.limit = num(v),
            b'C' => o.per_ip = Some(num(v)),
            b'x' => o.rules = v.map(OsStr::to_os_string),
            b'B' => o.banner = v.map(|b| b.as_bytes().to_vec()).unwrap_or_default(),
            b'g' => o.gid = num(v) as u32,
            b'u' => o.uid = num(v) as u32,
            b'b' => o.backlog = num(v),
            b'l' => o.localname = v.map(|b| b.as_bytes().to_vec()),
            b't' => o.ident_timeout = num(v),
            b'I' => o.scope = net::if_index(v.map(OsStr::as_bytes).unwrap_or_default()),
            l => flavor.option(l, v),
        }
    }
    diag::set_quiet(o.verbosity == Verbosity::Quiet);
    let rest = g.operands();
    // In the original's order: a port it cannot look up is reported
    // before a missing program.
    if rest.len() < 2 {
        diag::usage(usage);
    }
    o.host = rest[0].as_bytes().to_vec();
    o.port = net::port(rest[1].as_bytes())
        .unwrap_or_else(|| diag::fatal(&[&"unable to figure out port number for ", &rest[1]]));
    if rest.len() < 3 {
        diag::usage(usage);
    }
    o.program = rest[2..].to_vec();
    o
}

/// Where the server listens.
struct Bound {
    port: u16,
    /// The local address of every connection, when the socket is bound to
    /// one address (not a wildcard): no getsockname for each connection.
    local: Option<SocketAddr>,
}

/// Creates, binds and starts listening; returns the socket and where it
/// listens.
fn listen(o: &Opts) -> (Socket, Bound) {
    let any = o.host.is_empty() || o.host == b"0";
    let (ip, mut v4) = if any {
        (addr::ANY6, o.v4_only)
    } else {
        let mut rng = Rng::new();
        let host = OsStr::from_bytes(&o.host);
        match dns::resolve_host(&o.host, o.v4_only, &mut rng) {
            Err(e) => diag::fatal_sys(
                &[&"temporarily unable to figure out IP address for ", &host],
                e,
            ),
            Ok(list) if list.is_empty() => diag::fatal(&[&"no IP address for ", &host]),
            Ok(list) => {
                let ip = list[0];
                (ip, o.v4_only || addr::as_v4(&ip).is_some())
            }
        }
    };
    let make = |v4: bool| {
        let domain = if v4 { Domain::IPV4 } else { Domain::IPV6 };
        Socket::new(domain, Type::STREAM.cloexec(), None)
    };
    let sock = match make(v4) {
        Ok(s) => s,
        Err(e) if !v4 && matches!(errno_of(&e), Errno::EAFNOSUPPORT | Errno::EINVAL) => {
            v4 = true;
            make(true)
                .unwrap_or_else(|e| diag::fatal_sys(&[&"unable to create socket"], errno_of(&e)))
        }
        Err(e) => diag::fatal_sys(&[&"unable to create socket"], errno_of(&e)),
    };
    let _ = sock.set_reuse_address(true);
    if !v4 {
        let _ = sock.set_only_v6(false);
    }
    let ip = if v4 && any {
        addr::mapped([0, 0, 0, 0])
    } else {
        ip
    };
    let sa = net::join(&ip, o.port, o.scope, v4);
    if let Err(e) = sock.bind(&sa.into()) {
        diag::fatal_sys(&[&"unable to bind"], errno_of(&e));
    }
    let local = sock
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .unwrap_or_else(|| diag::fatal_sys(&[&"unable to get local address"], Errno::EINVAL));
    let (lip, port, _) = net::split(&local);
    let wildcard = lip == addr::ANY6 || lip == addr::mapped([0, 0, 0, 0]);
    let bound = Bound {
        port,
        local: (!wildcard).then_some(local),
    };
    if let Err(e) = sock.listen(o.backlog.min(i32::MAX as u64) as i32) {
        diag::fatal_sys(&[&"unable to listen"], errno_of(&e));
    }
    let _ = sock.set_nonblocking(true);
    (sock, bound)
}

fn drop_privileges(o: &Opts) {
    if o.gid != 0 {
        let gid = Gid::from_raw(o.gid);
        if let Err(e) = nix::unistd::setgroups(&[gid]).and_then(|()| nix::unistd::setgid(gid)) {
            diag::fatal_sys(&[&"unable to set gid"], e);
        }
    }
    if o.uid != 0 {
        if let Err(e) = nix::unistd::setuid(Uid::from_raw(o.uid)) {
            diag::fatal_sys(&[&"unable to set uid"], e);
        }
    }
}

/// A line `tcpserver: TEXT` (or the flavor's name) at verbose level;
/// below it nothing is formatted (the loop and the child allocate nothing
/// for lines they do not print).
fn verbose(o: &Opts, text: std::fmt::Arguments<'_>) {
    if o.verbosity == Verbosity::Verbose {
        let mut v = prefix();
        let _ = v.write_fmt(text);
        v.push(b'\n');
        diag::write_line(&v);
    }
}

fn status(o: &Opts, children: u64) {
    verbose(o, format_args!("status: {children}/{}", o.limit));
}

/// What the parent knows of a connection's child: the client's address
/// (per-IP limits count by it).
#[derive(Debug, Clone, Copy)]
pub struct Client {
    pub ip: Ip6,
}

/// Most child slots reserved at start: past it the table may grow while
/// serving (only with a `-c` this large).
const RESERVE_MAX: u64 = 4096;

/// Heap a connection's child may need beyond the parent's, reserved at
/// start (see `main`).
const CHILD_HEADROOM: usize = 64 * 1024;

/// What per-IP limits count by: an IPv4 address (also v4-mapped), or the
/// /64 of an IPv6 address.
fn ip_class(ip: &Ip6) -> Ip6 {
    if addr::as_v4(ip).is_some() {
        return *ip;
    }
    let mut c = [0u8; 16];
    c[..8].copy_from_slice(&ip[..8]);
    c
}

/// Connections per client, kept by the parent while its children live.
struct PerIp {
    counts: std::collections::HashMap<Ip6, u32>,
}

impl PerIp {
    fn with_capacity(n: usize) -> PerIp {
        PerIp {
            counts: std::collections::HashMap::with_capacity(n),
        }
    }

    /// One more connection from `ip`; its count, this one included.
    fn add(&mut self, ip: &Ip6) -> u32 {
        let n = self.counts.entry(ip_class(ip)).or_insert(0);
        *n += 1;
        *n
    }

    fn remove(&mut self, ip: &Ip6) {
        let c = ip_class(ip);
        if let Some(n) = self.counts.get_mut(&c) {
            *n -= 1;
            if *n == 0 {
                self.counts.remove(&c);
            }
        }
    }
}

/// `PROGRAM: `, the start of every log line.
fn prefix() -> Vec<u8> {
    let name = diag::program().as_bytes();
    let mut v = Vec::with_capacity(name.len() + 128);
    v.extend_from_slice(name);
    v.extend_from_slice(b": ");
    v
}

pub fn main(args: &[OsString]) -> i32 {
    serve(args, &mut Tcp)
}

/// The server: tcpserver's, or another flavor's.
pub fn serve(args: &[OsString], flavor: &mut dyn Flavor) -> i32 {
    diag::set_program(flavor.name());
    let o = parse(args, flavor);
    let mut rt = Runtime::new(&[
        (Signal::SIGCHLD, Disposition::Catch),
        (Signal::SIGTERM, Disposition::Catch),
        (Signal::SIGPIPE, Disposition::Ignore),
    ])
    .unwrap_or_else(|e| diag::fatal_sys(&[&"unable to create pipe"], e));
    let (listener, bound) = listen(&o);
    flavor.prepare();
    drop_privileges(&o);
    // Everything the loop keeps is reserved here, before the port is
    // printed (a server that says it listens has what it needs): serving
    // allocates nothing that lasts, so a server started under a tight
    // `softlimit -m` cannot run out of memory later. Each connection's work
    // is its child's, or under -RHl0 the parent's, in buffers taken at
    // start ([`Work`]) that grow at most to the largest rules record the
    // parent reads (16 KiB), within the headroom below; a record the
    // memory left cannot hold drops its connection (`out of memory`).
    let mut children: Reaper<Client> = Reaper::with_capacity(o.limit.min(RESERVE_MAX) as usize);
    // Counted only where a limit may apply: -C, or rules that may set one.
    let counting = o.per_ip.is_some() || o.rules.is_some();
    let mut per_ip = PerIp::with_capacity(if counting {
        o.limit.min(RESERVE_MAX) as usize
    } else {
        0
    });
    // No lookup that can block and no line that needs the child's pid
    // before its exec: the parent does the child's work itself.
    let in_parent = flavor.runs_program()
        && o.verbosity != Verbosity::Verbose
        && !o.remote_host
        && !o.ident
        && o.localname.is_some()
        && o.banner.is_empty();
    let mut launch = in_parent.then(|| {
        let spawner = rt.spawner();
        // With one CPU to run on, the parent starts each program with
        // posix_spawn (it shares the parent's memory until the exec:
        // nothing is copied); with more, by fork, so that the exec runs on
        // another CPU while the parent accepts the next connection.
        let one_cpu = std::thread::available_parallelism().map_or(1, |n| n.get()) == 1;
        let how = match one_cpu.then(|| spawner.plan(&PLAN)) {
            Some(Ok(p)) => Start::Spawn(p),
            _ => Start::Fork,
        };
        Launch {
            spawner,
            how,
            work: Work::new(),
        }
    });
    // The program made ready once, for every start: by the parent, or by
    // a forked child after its lookups. Made after the Work above, whose
    // buffers the parent writes for every connection: they then lie next
    // to the tables of children and clients, which it writes too, on
    // fewer pages (each a copy-on-write fault after a fork).
    let mut ready = flavor.runs_program().then(|| Ready::new(&o.program));
    // Each child starts as a copy of this process and then needs some heap
    // of its own (names, environment, argv): it is reserved here, a block
    // taken and given back at the top of the heap, which stays mapped. So
    // a memory limit the server starts under also serves connections: the
    // child's needs are counted at start, not found missing in a child.
    let headroom: Vec<u8> = Vec::with_capacity(CHILD_HEADROOM);
    drop(std::hint::black_box(headroom));
    if o.print_port {
        let _ = std::io::stdout()
            .lock()
            .write_all(format!("{}\n", bound.port).as_bytes());
    }
    // fds 0 and 1 are the connection's in every child; ours are closed, as
    // the original does, so that accept can use them: the server needs no
    // more descriptors than the C one (0 and 1 free, 2, the listener). A
    // listener started on 0 or 1 (closed by whoever started us) moves up.
    let listener = if listener.as_raw_fd() <= 1 {
        match sys::dup_inherited(listener.as_raw_fd()) {
            Ok(fd) => {
                drop(listener);
                Socket::from(fd)
            }
            Err(e) => diag::fatal_sys(&[&"unable to listen"], e),
        }
    } else {
        listener
    };
    sys::close_std(0);
    sys::close_std(1);
    let mut accept_backoff = Backoff::new();
    status(&o, 0);
    // Connections accepted since the last wait: while the backlog holds
    // more, the next is accepted at once, up to ACCEPT_BURST of them, and
    // only then does the loop wait again (where signals are let in: a TERM
    // or a child's exit waits at most that many starts).
    let mut burst = 0u32;
    loop {
        let now = Instant::now();
        let accepting = (children.len() as u64) < o.limit && !accept_backoff.waiting(now);
        if !(accepting && (1..ACCEPT_BURST).contains(&burst)) {
            burst = 0;
            let wake = {
                let watch = [(listener.as_fd(), PollFlags::POLLIN)];
                let watch: &[_] = if accepting { &watch } else { &[] };
                let deadline = if accepting {
                    None
                } else {
                    accept_backoff.deadline()
                };
                rt.wait(watch, deadline)
            };
            if rt.take(Signal::SIGTERM) {
                return 0;
            }
            if rt.take(Signal::SIGCHLD) {
                while let Some((pid, client, ws)) = children.reap() {
                    if let (true, Some(c)) = (counting, client) {
                        per_ip.remove(&c.ip);
                    }
                    verbose(&o, format_args!("end {pid} status {}", ws.0));
                    status(&o, children.len() as u64);
                    // A descriptor or a process slot may be free again.
                    accept_backoff.retry_now();
                }
            }
            if !(accepting && wake.ready(0)) {
                continue;
            }
        }
        let (conn, peer) = match listener.accept() {
            Ok(c) => {
                accept_backoff.succeeded();
                burst += 1;
                c
            }
            Err(e) => {
                burst = 0;
                match errno_of(&e) {
                    Errno::EAGAIN | Errno::EINTR | Errno::ECONNABORTED | Errno::EPROTO => {}
                    // Out of descriptors or memory: wait (a child's exit,
                    // or a deadline) instead of spinning on the listener.
                    e => {
                        if accept_backoff.failed(Instant::now()) {
                            diag::warn_sys(&[&"unable to accept"], e);
                        }
                    }
                }
                continue;
            }
        };
        let ip = peer
            .as_socket()
            .map(|a| net::split(&a).0)
            .unwrap_or(addr::ANY6);
        // Counted before the fork, as the original: the status line comes
        // before the child's lines.
        status(&o, children.len() as u64 + 1);
        let conn_num = if counting { per_ip.add(&ip) } else { 0 };
        if let (Some(launch), Some(ready), 0) = (launch.as_mut(), ready.as_mut(), conn.as_raw_fd())
        {
            // None: go on to fork a child; Some(pid or None): done.
            let work = &mut launch.work;
            let decided = decide(
                &o,
                &*flavor,
                &conn,
                &peer,
                &bound,
                conn_num,
                Place::Parent,
                work,
            );
            let started = match decided {
                Ok(Decision::Fork) => None,
                Ok(Decision::Run) => Some(start(&o, launch, ready)),
                Ok(Decision::Refused) => Some(None),
                Err(d) => {
                    d.warn(&o);
                    Some(None)
                }
            };
            match started {
                // A rules lookup too long for the parent: a child decides.
                None => {}
                Some(Some(pid)) => {
                    children.adopt(pid, Client { ip });
                    continue;
                }
                Some(None) => {
                    if counting {
                        per_ip.remove(&ip);
                    }
                    status(&o, children.len() as u64);
                    continue;
                }
            }
        }
        match sys::fork() {
            Ok(Forked::Child) => {
                rt.reset_child();
                drop(listener);
                child(&o, &*flavor, conn, peer, &bound, conn_num, ready.as_mut())
            }
            Ok(Forked::Parent(pid)) => children.adopt(pid, Client { ip }),
            Err(e) => {
                if counting {
                    per_ip.remove(&ip);
                }
                drop_line(&[&"unable to fork"], e);
                status(&o, children.len() as u64);
            }
        }
    }
}

/// `tcpserver: warning: dropping connection, TEXT: ERRSTR`, exit 111.
fn drop_conn(parts: &[&dyn diag::Part], e: Errno) -> ! {
    dropping(parts, Some(e))
}

/// The line of [`drop_conn`], written by the parent (no exit).
fn drop_line(parts: &[&dyn diag::Part], e: Errno) {
    drop_warning(parts, Some(e))
}

/// `PROG: warning: dropping connection, TEXT[: ERRSTR]`: the one writer of
/// these lines, for a child and for the parent.
fn drop_warning(parts: &[&dyn diag::Part], e: Option<Errno>) {
    let mut v: Vec<&dyn diag::Part> = vec![&"dropping connection, "];
    v.extend_from_slice(parts);
    diag::write_line(&diag::line(": warning: ", &v, e));
}

/// `PROG: warning: dropping connection, TEXT` (`: ERRSTR` when `e` is
/// given), exit 111: a connection's child giving up (a flavor's too).
pub fn dropping(parts: &[&dyn diag::Part], e: Option<Errno>) -> ! {
    drop_warning(parts, e);
    std::process::exit(diag::EXIT_TEMP)
}

/// A log field: the first 100 bytes, unprintable bytes, `%` and (unless
/// `keep_colons`) `:` as `?`, `...` after 100 bytes or more.
fn field(out: &mut Vec<u8>, s: &[u8], keep_colons: bool) {
    for &c in s.iter().take(FIELD_MAX) {
        let bad = !(33..=126).contains(&c) || c == b'%' || (c == b':' && !keep_colons);
        out.push(if bad { b'?' } else { c });
    }
    if s.len() >= FIELD_MAX {
        out.extend_from_slice(b"...");
    }
}

/// An address as the connection is presented: a dotted quad for an IPv4
/// client (`fake4`), IPv6 text otherwise.
fn ip_text(ip: &Ip6, fake4: bool) -> IpText {
    use std::fmt::Write;
    let mut t = IpText {
        buf: [0; IP_TEXT_MAX],
        len: 0,
    };
    let _ = match addr::as_v4(ip).filter(|_| fake4) {
        Some(a) => write!(t, "{}", addr::Quad(a)),
        None => t.write_str(&addr::fmt6(ip)),
    };
    t
}

/// The longest address text: eight groups of four hex digits and seven
/// colons.
const IP_TEXT_MAX: usize = 39;

/// An address as text, kept on the stack: the parent makes two for each
/// connection, and every heap page it writes after a fork is a fault.
struct IpText {
    buf: [u8; IP_TEXT_MAX],
    len: usize,
}

impl std::fmt::Write for IpText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(std::fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl std::ops::Deref for IpText {
    type Target = str;
    fn deref(&self) -> &str {
        // Only whole `str`s are written in.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

impl std::fmt::Display for IpText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

/// Why a connection is dropped: `dropping connection, WHAT[ FILE]: ERRSTR`
/// (the rules file named after `unable to read`).
#[derive(Debug, Clone, Copy)]
struct Dropped {
    what: &'static str,
    rules_file: bool,
    e: Errno,
}

impl Dropped {
    fn new(what: &'static str, e: Errno) -> Dropped {
        Dropped {
            what,
            rules_file: false,
            e,
        }
    }

    /// The warning line, from a child or from the parent.
    fn warn(&self, o: &Opts) {
        let file = o.rules.as_deref().unwrap_or_default();
        if self.rules_file {
            drop_line(&[&self.what, &file], self.e)
        } else {
            drop_line(&[&self.what], self.e)
        }
    }
}

/// What [`decide`] fills for a connection: the program's environment
/// changes and the rules lookup's buffers. The parent keeps one from
/// connection to connection: every heap page it writes after a fork is a
/// copy-on-write fault, and an allocation and its free write two.
struct Work {
    env: EnvEdit,
    rules: rules::LookupBuf,
    /// The rules database, kept open (the parent's, from connection to
    /// connection).
    db: common::cdb::Held,
}

impl Work {
    fn new() -> Work {
        // Room for every variable of the usual connection and a few rules,
        // taken at once: the blocks lie side by side, on few pages.
        Work {
            env: EnvEdit::with_capacity(16),
            rules: rules::LookupBuf::with_capacity(256),
            db: common::cdb::Held::new(PARENT_READ_MAX),
        }
    }
}

/// What a connection's lookups and rules decided.
enum Decision {
    /// Run the program with the environment of the [`Work`].
    Run,
    /// Denied by a rule, or over its per-IP limit (the child's exit 100).
    Refused,
    /// (In the parent) a rules lookup too long to make there: the
    /// connection goes to a forked child, which decides again.
    Fork,
}

/// Where [`decide`] runs: in the connection's forked child (every lookup
/// allowed), or in the parent (none that can block: `-H -R -l`, no banner,
/// no `-v`), which leaves a long rules lookup to a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Child,
    Parent,
}

/// Most bytes the parent reads for one rules lookup (a connection whose
/// lookup reads more, a large record or a long probe, is handed to a
/// forked child): what the parent allocates and how long it reads for a
/// connection stay small.
const PARENT_READ_MAX: u64 = 16 * 1024;

/// Most connections accepted one after another without a wait
/// ([`serve`]'s loop).
const ACCEPT_BURST: u32 = 16;

/// Lookups, environment and rules of one connection: the first half of
/// the original's child, shared by the two places it runs in.
// What the accept gave, where it runs and what it fills: a struct of them
// would only be taken apart again.
#[allow(clippy::too_many_arguments)]
fn decide(
    o: &Opts,
    flavor: &dyn Flavor,
    conn: &Socket,
    peer: &socket2::SockAddr,
    bound: &Bound,
    conn_num: u32,
    place: Place,
    work: &mut Work,
) -> Result<Decision, Dropped> {
    let peer: SocketAddr = peer
        .as_socket()
        .ok_or(Dropped::new("unable to get remote address", Errno::EINVAL))?;
    let (rip, rport, _) = net::split(&peer);
    let fake4 = addr::as_v4(&rip).is_some() && !o.present6;
    let remote_ip = ip_text(&rip, fake4);
    // The child's pid, for -v lines (which only a child writes).
    let pid = match place {
        Place::Child => std::process::id(),
        Place::Parent => 0,
    };
    verbose(o, format_args!("pid {pid} from {remote_ip}"));
    if !o.keep_ip_options {
        let _ = sys::clear_ip_options(conn.as_fd());
    }
    if o.nodelay {
        let _ = conn.set_tcp_nodelay(true);
    }
    if !o.banner.is_empty() && flavor.plaintext_first() {
        if let Err(e) = (&*conn).write_all(&o.banner) {
            return Err(Dropped::new("unable to print banner", errno_of(&e)));
        }
    }
    let local: SocketAddr = match bound.local {
        Some(a) => a,
        None => match conn.local_addr() {
            Ok(a) => a
                .as_socket()
                .ok_or(Dropped::new("unable to get local address", Errno::EINVAL))?,
            Err(e) => return Err(Dropped::new("unable to get local address", errno_of(&e))),
        },
    };
    let (lip, _, lscope) = net::split(&local);
    let local_ip = ip_text(&lip, fake4);
    let mut rng = Rng::new();
    let nonempty = |r: Result<Option<Vec<u8>>, Errno>| r.ok().flatten().filter(|n| !n.is_empty());
    let looked_up;
    let local_host = match &o.localname {
        Some(n) => Some(&n[..]),
        None => {
            looked_up = nonempty(dns::name_of(&lip, &mut rng));
            looked_up.as_deref()
        }
    };
    let mut remote_host = if o.remote_host {
        nonempty(dns::name_of(&rip, &mut rng))
    } else {
        None
    };
    if o.paranoid {
        if let Some(name) = &remote_host {
            let ok = dns::addresses(name, false, &mut rng).is_ok_and(|l| l.contains(&rip));
            if !ok {
                remote_host = None;
            }
        }
    }
    let remote_info = if o.ident {
        ident::query(
            local,
            peer,
            uint_seconds(o.ident_timeout),
            (rport, local.port()),
        )
    } else {
        None
    };

    let names = Names {
        six: !fake4,
        local_ip: &local_ip,
        lip: &lip,
        lscope,
        listen_port: bound.port,
        local_host,
        remote_ip: &remote_ip,
        rip: &rip,
        rport,
        remote_host: remote_host.as_deref(),
        remote_info: remote_info.as_deref(),
    };
    let Work {
        env,
        rules: found_in,
        db: held,
    } = work;
    tcp_env(env, &names, flavor.protocol());
    let mut deny = false;
    let mut rule_limit = None;
    let mut diemsg: Option<Vec<u8>> = None;
    if let Some(file) = &o.rules {
        let unreadable = |e: Errno| Dropped {
            what: "unable to read ",
            rules_file: true,
            e,
        };
        // Only the records this lookup needs are read (pread), never the
        // whole file.
        // The parent keeps the file open while its path names it (one
        // stat a connection instead of an open and a close), and its
        // header once it has settled; a child reads the header once for
        // all the keys it tries.
        let mut fresh = None;
        let db = match place {
            Place::Parent => held.get(file),
            Place::Child => common::cdb::Reader::open(file).map(|mut r| {
                r.read_header();
                &*fresh.insert(r)
            }),
        };
        match db {
            Err(e) if errno_of(&e) == Errno::ENOENT && o.rules_missing_ok => {}
            Err(e) => return Err(unreadable(errno_of(&e))),
            Ok(db) => {
                let found = rules::lookup_with(
                    db,
                    remote_ip.as_bytes(),
                    remote_host.as_deref(),
                    remote_info.as_deref(),
                    found_in,
                );
                let found = match found {
                    Err(common::cdb::Error::TooLong) if place == Place::Parent => {
                        return Ok(Decision::Fork)
                    }
                    Err(e) => return Err(unreadable(e.errno())),
                    Ok(f) => f,
                };
                if let Some((_, value)) = found {
                    for e in rules::entries(value) {
                        match e {
                            Entry::Deny => deny = true,
                            Entry::Set { name, value, .. } => {
                                match name {
                                    b"MAXCONNIP" | b"MAXCONIP" => {
                                        let (n, used) = scan_ulong(value);
                                        if used > 0 && used == value.len() {
                                            rule_limit = Some(n);
                                        }
                                    }
                                    b"DIEMSG" => diemsg = Some(value.to_vec()),
                                    _ => {}
                                }
                                env.set(OsStr::from_bytes(name), OsStr::from_bytes(value))
                            }
                            Entry::Origin(_) | Entry::NoValue(_) => {}
                        }
                    }
                }
            }
        }
    }

    let limit = rule_limit.or(o.per_ip);
    if let (Some(max), false) = (limit, deny) {
        if u64::from(conn_num) > max {
            verbose(
                o,
                format_args!("per-ip limit {remote_ip} {}/{max}", conn_num - 1),
            );
            if let (Some(mut m), true) = (diemsg, flavor.plaintext_first()) {
                m.extend_from_slice(b"\r\n");
                // The parent never waits on a client: a message larger than
                // the socket's buffer is cut short there.
                let _ = match place {
                    Place::Child => (&*conn).write_all(&m).map(|_| m.len()),
                    Place::Parent => conn.send_with_flags(&m, nix::libc::MSG_DONTWAIT),
                };
            }
            return Ok(Decision::Refused);
        }
        let mut digits = [0u8; 20];
        env.set_parts(&[b"TCPCONNNUM"], fmt_ulong(conn_num.into(), &mut digits));
    }
    if o.verbosity == Verbosity::Verbose {
        diag::write_line(&ok_line(deny, pid, &names));
    }
    Ok(if deny {
        Decision::Refused
    } else {
        Decision::Run
    })
}

/// How the parent starts a program.
// One of these exists, for the life of the server: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Start {
    /// posix_spawn, with the plan made once.
    Spawn(SpawnPlan),
    Fork,
}

/// Starts the program of a connection decided in the parent, its socket
/// (fd 0) as fds 0 and 1: the pid, or `None` after the warning the
/// original would have written (`unable to fork`, `unable to run PROG`).
fn start(o: &Opts, l: &mut Launch, ready: &mut Ready) -> Option<nix::unistd::Pid> {
    let plan = PLAN;
    let cannot_run = |e: Errno| drop_line(&[&"unable to run ", &o.program[0]], e);
    let spawner = &l.spawner;
    // fork_exec fails only when fork does (the child reports its exec);
    // posix_spawn's EAGAIN is its clone's (out of processes): both are the
    // original's `unable to fork`.
    let cannot_fork = |e: Errno| drop_line(&[&"unable to fork"], e);
    let failed = |e: Errno| match (&l.how, e) {
        (Start::Fork, e) | (Start::Spawn(_), e @ Errno::EAGAIN) => cannot_fork(e),
        (Start::Spawn(_), e) => cannot_run(e),
    };
    let Ready { prog, environ } = ready;
    // The environment is put together where the program runs: a forked
    // child writes it in its own pages, not the parent after the fork
    // (two to three faults fewer for the parent on each connection).
    let edit = &l.work.env;
    let r = match &l.how {
        Start::Spawn(p) => environ.with_edited(edit, |env| p.spawn(prog, env)),
        Start::Fork => spawner.fork_then(&plan, None, &cannot_run, || {
            environ.with_edited(edit, |env| prog.exec_with_env(env))
        }),
    };
    r.map_err(failed).ok()
}

/// The program's descriptors: the connection, always fd 0 when the parent
/// starts it, stays 0 and becomes 1 too.
const PLAN: [FdAction; 2] = [FdAction(0, 0), FdAction(0, 1)];

/// What the parent keeps to start programs itself.
struct Launch {
    spawner: Spawner,
    how: Start,
    work: Work,
}

/// The program, made ready once at start for every connection (no copy of
/// the environment for each): its argv and the places to look for it, and
/// the server's environment, which each start edits in place
/// ([`Environ::with_edited`]). A forked child inherits it.
pub struct Ready {
    prog: Prepared,
    environ: Environ,
}

impl Ready {
    /// `program` (argv) with this process's environment.
    pub fn new(program: &[OsString]) -> Ready {
        Ready {
            prog: Prepared::new(program, None),
            environ: Environ::current(),
        }
    }

    /// Runs the program in place of this process, its environment this
    /// one's edited by `edit`: the error to report if it cannot.
    pub fn exec(&mut self, edit: &EnvEdit) -> Errno {
        let Ready { prog, environ } = self;
        environ.with_edited(edit, |env| prog.exec_with_env(env))
    }
}

/// The per-connection child: [`decide`], then the flavor's last step.
fn child(
    o: &Opts,
    flavor: &dyn Flavor,
    conn: Socket,
    peer: socket2::SockAddr,
    bound: &Bound,
    conn_num: u32,
    ready: Option<&mut Ready>,
) -> ! {
    let mut work = Work::new();
    match decide(
        o,
        flavor,
        &conn,
        &peer,
        bound,
        conn_num,
        Place::Child,
        &mut work,
    ) {
        Err(d) => {
            d.warn(o);
            std::process::exit(diag::EXIT_TEMP)
        }
        // (Fork is the parent's answer only.)
        Ok(Decision::Refused | Decision::Fork) => std::process::exit(diag::EXIT_USAGE),
        Ok(Decision::Run) => flavor.connection(Connection {
            socket: conn.into(),
            env: work.env,
            program: &o.program,
            banner: if flavor.plaintext_first() {
                &[]
            } else {
                &o.banner
            },
            verbose: o.verbosity == Verbosity::Verbose,
            ready,
        }),
    }
}

/// What a connection is known by.
struct Names<'a> {
    /// Presented as IPv6 (PROTO=TCP6 and the TCP6* twins).
    six: bool,
    local_ip: &'a str,
    lip: &'a Ip6,
    lscope: u32,
    listen_port: u16,
    local_host: Option<&'a [u8]>,
    remote_ip: &'a str,
    rip: &'a Ip6,
    rport: u16,
    remote_host: Option<&'a [u8]>,
    remote_info: Option<&'a [u8]>,
}

/// The environment queue of spec/tcpserver.md, in its order (rule
/// variables come after). sslserver: `PROTO=SSL` and the same variables
/// named `SSL*` (ucspi-ssl's), then with `-e` the `TCP*` ones.
fn tcp_env(env: &mut EnvEdit, n: &Names, p: Protocol) {
    env.clear();
    if p.ssl {
        env.set("PROTO", "SSL");
        conn_vars(env, n, b"SSL", false);
        if p.tcp_too {
            conn_vars(env, n, b"TCP", n.six);
        }
    } else {
        env.set("PROTO", if n.six { "TCP6" } else { "TCP" });
        conn_vars(env, n, b"TCP", n.six);
    }
}

/// `{pre}LOCALIP` ... `{pre}REMOTEINFO`, with the IPv6 build's `{pre}6*`
/// twins when `six`.
fn conn_vars(env: &mut EnvEdit, n: &Names, pre: &[u8], six: bool) {
    let both = |env: &mut EnvEdit, name: &[u8], v: Option<&[u8]>| {
        let mut set = |parts: &[&[u8]]| match v {
            Some(v) => env.set_parts(parts, v),
            None => env.unset_parts(parts),
        };
        set(&[pre, name]);
        if six {
            set(&[pre, b"6", name]);
        }
    };
    let mut digits = [0u8; 20];
    env.set_parts(&[pre, b"LOCALIP"], n.local_ip.as_bytes());
    if six {
        env.set_parts(&[pre, b"6LOCALIP"], addr::fmt6(n.lip).as_bytes());
    }
    both(
        env,
        b"LOCALPORT",
        Some(fmt_ulong(n.listen_port.into(), &mut digits)),
    );
    both(env, b"LOCALHOST", n.local_host);
    if six && n.lscope != 0 {
        env.set_parts(&[pre, b"6INTERFACE"], net::if_name(n.lscope).as_bytes());
    }
    env.set_parts(&[pre, b"REMOTEIP"], n.remote_ip.as_bytes());
    if six {
        env.set_parts(&[pre, b"6REMOTEIP"], addr::fmt6(n.rip).as_bytes());
    }
    both(
        env,
        b"REMOTEPORT",
        Some(fmt_ulong(n.rport.into(), &mut digits)),
    );
    both(env, b"REMOTEHOST", n.remote_host);
    both(env, b"REMOTEINFO", n.remote_info);
}

/// The `ok`/`deny` line. IPv4 clients: the IPv4 build's line; IPv6: the
/// IPv6 build's (IPv6 text, colons kept).
fn ok_line(deny: bool, pid: u32, n: &Names) -> Vec<u8> {
    let (mut p, mut l, mut r) = ([0u8; 20], [0u8; 20], [0u8; 20]);
    let fields: [(&[u8], u8); 9] = [
        (if deny { b"deny" } else { b"ok" }, b' '),
        (fmt_ulong(pid.into(), &mut p), b' '),
        (n.local_host.unwrap_or_default(), b':'),
        (n.local_ip.as_bytes(), b':'),
        (fmt_ulong(n.listen_port.into(), &mut l), b' '),
        (n.remote_host.unwrap_or_default(), b':'),
        (n.remote_ip.as_bytes(), b':'),
        (n.remote_info.unwrap_or_default(), b':'),
        (fmt_ulong(n.rport.into(), &mut r), b'\n'),
    ];
    let mut v = prefix();
    for (f, sep) in fields {
        field(&mut v, f, n.six);
        v.push(sep);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_counts_ipv4_addresses_and_ipv6_64s() {
        let v6 = |t: &str| t.parse::<std::net::Ipv6Addr>().unwrap().octets();
        let mut p = PerIp::with_capacity(4);
        assert_eq!(p.add(&v6("2001:db8:1:2::1")), 1);
        assert_eq!(p.add(&v6("2001:db8:1:2:ffff::9")), 2);
        assert_eq!(p.add(&v6("2001:db8:1:3::1")), 1);
        assert_eq!(p.add(&v6("::ffff:10.0.0.1")), 1);
        assert_eq!(p.add(&v6("::ffff:10.0.0.2")), 1);
        p.remove(&v6("2001:db8:1:2::1"));
        assert_eq!(p.add(&v6("2001:db8:1:2::7")), 2);
        p.remove(&v6("::ffff:10.0.0.1"));
        assert!(!p.counts.contains_key(&v6("::ffff:10.0.0.1")));
    }

    #[test]
    fn address_text_as_the_formatters_write_it() {
        let v6 = |t: &str| t.parse::<std::net::Ipv6Addr>().unwrap().octets();
        for t in [
            "::ffff:1.2.3.4",
            "::ffff:255.255.255.255",
            "::ffff:0.0.0.0",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "2001:db8::1",
            "::",
        ] {
            let a = v6(t);
            let four = addr::as_v4(&a).map(addr::fmt4);
            assert_eq!(&*ip_text(&a, true), four.unwrap_or_else(|| addr::fmt6(&a)));
            assert_eq!(&*ip_text(&a, false), addr::fmt6(&a));
            assert_eq!(ip_text(&a, false).to_string(), addr::fmt6(&a));
        }
    }
}

//! The djbdns-style DNS client of ucspi-tcp (spec/dns.md): no C library
//! resolver, no /etc/hosts.
//!
//! Servers come from `$DNSCACHEIP`, else the `nameserver` lines of
//! /etc/resolv.conf, else 127.0.0.1. Queries are recursive, over UDP from a
//! random port, each server in turn with rounds of 3, 11 and 45 seconds; a
//! truncated answer is asked again over TCP. NXDOMAIN and "no data" are
//! empty answers; when no server answers usefully the lookup fails
//! temporarily. A reply counts only if its id and its question (name,
//! type, class) are those of the query, as the original checks; query ids
//! come from the kernel's random source. A reply to the query whose answers
//! cannot be read ends the lookup with a protocol error, as the original's.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;

use crate::addr::{self, Ip6};

/// Most servers used, as the original.
const MAX_SERVERS: usize = 16;
/// resolv.conf and the rewrite file are read at most this far.
const SYSTEM_FILE_MAX: usize = 1 << 20;
/// Timeouts of the UDP rounds over all servers.
const ROUNDS: [u64; 3] = [3, 11, 45];
/// Timeout of a query repeated over TCP.
const TCP_TIMEOUT: Duration = Duration::from_secs(10);

pub const T_A: u16 = 1;
pub const T_PTR: u16 = 12;
pub const T_TXT: u16 = 16;
pub const T_AAAA: u16 = 28;

/// Eight bytes from the kernel's random source (/dev/urandom), if it can
/// be read.
fn kernel_random() -> Option<u64> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open("/dev/urandom")
        .ok()?;
    let mut b = [0u8; 8];
    f.read_exact(&mut b).ok()?;
    Some(u64::from_le_bytes(b))
}

/// A query id that an off-path attacker cannot guess: from the kernel's
/// random source, or from `rng` where that cannot be read (a chroot
/// without /dev).
pub fn query_id(rng: &mut Rng) -> u16 {
    kernel_random().unwrap_or_else(|| rng.next_u64()) as u16
}

/// A small generator for shuffles (and query ids only where the kernel's
/// source cannot be read), seeded from the kernel's random source when
/// first used (a connection that asks nothing costs nothing).
pub struct Rng(u64);

impl Rng {
    pub fn new() -> Self {
        Rng(0)
    }
    pub fn next_u64(&mut self) -> u64 {
        if self.0 == 0 {
            let seed = kernel_random().unwrap_or_else(|| {
                let t = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64);
                t ^ (u64::from(std::process::id()) << 32)
            });
            self.0 = seed | 1;
        }
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

impl Default for Rng {
    fn default() -> Self {
        Self::new()
    }
}

/// Parses a list of addresses as `$DNSCACHEIP` holds them, as the
/// original scans it: addresses (`addr::scan6`) separated by dots, up to
/// the first thing that is not an address. Blanks and commas separate
/// them too (ours; the original stops there).
fn parse_servers(s: &[u8]) -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < s.len() && out.len() < MAX_SERVERS {
        if matches!(s[at], b'.' | b',') || s[at].is_ascii_whitespace() {
            at += 1;
            continue;
        }
        let Some((a, n)) = addr::scan6(&s[at..]) else {
            break;
        };
        out.push(ip_addr(&a));
        at += n;
    }
    out
}

/// A v4-mapped address as IPv4, any other as IPv6.
fn ip_addr(a: &Ip6) -> IpAddr {
    addr::as_v4(a).map_or(IpAddr::V6(Ipv6Addr::from(*a)), IpAddr::from)
}

/// The `nameserver` lines of resolv.conf: the keyword, a blank, blanks,
/// then an address as the original scans it (what follows is left).
fn nameservers(conf: &str) -> Vec<IpAddr> {
    conf.lines()
        .filter_map(|line| line.strip_prefix("nameserver"))
        .filter(|rest| rest.starts_with([' ', '\t']))
        .filter_map(|rest| addr::scan6(rest.trim_start_matches([' ', '\t']).as_bytes()))
        .map(|(a, _)| ip_addr(&a))
        .take(MAX_SERVERS)
        .collect()
}

/// The servers to ask.
pub fn servers() -> Vec<IpAddr> {
    if let Some(v) = std::env::var_os("DNSCACHEIP") {
        let s = parse_servers(std::os::unix::ffi::OsStrExt::as_bytes(v.as_os_str()));
        if !s.is_empty() {
            return s;
        }
    }
    let mut out = common::file::read_text("/etc/resolv.conf", SYSTEM_FILE_MAX)
        .map(|conf| nameservers(&conf))
        .unwrap_or_default();
    if out.is_empty() {
        out.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    out
}

/// One resource record of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    A([u8; 4]),
    Aaaa([u8; 16]),
    /// The name's labels.
    Ptr(Vec<Vec<u8>>),
    /// The character-strings, concatenated.
    Txt(Vec<u8>),
}

fn encode_name(name: &[u8], out: &mut Vec<u8>) -> Result<(), Errno> {
    for label in name.split(|&b| b == b'.').filter(|l| !l.is_empty()) {
        if label.len() > 63 {
            return Err(Errno::EPROTO);
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    out.push(0);
    Ok(())
}

/// Reads a (possibly compressed) name at `pos` as the original does
/// (`dns_packet_getname`): labels of at most 63 bytes (a length byte from
/// 64 to 191 is an error), at most 255 bytes written out, pointers
/// followed, fewer than 1000 bytes and jumps walked. Its labels and the
/// position after it in the record.
fn read_name(msg: &[u8], mut pos: usize) -> Option<(Vec<Vec<u8>>, usize)> {
    let mut labels = Vec::new();
    let mut end = None;
    let mut walked = 0;
    let mut written = 0;
    let mut step = |n: usize| {
        walked += n;
        (walked < 1000).then_some(())
    };
    loop {
        let mut len = *msg.get(pos)? as usize;
        step(1)?;
        while len >= 192 {
            let ptr = (len - 192) << 8 | *msg.get(pos + 1)? as usize;
            end.get_or_insert(pos + 2);
            pos = ptr;
            len = *msg.get(pos)? as usize;
            step(1)?;
        }
        if len >= 64 {
            return None;
        }
        written += 1 + len;
        if written > 255 {
            return None;
        }
        if len == 0 {
            return Some((labels, end.unwrap_or(pos + 1)));
        }
        labels.push(msg.get(pos + 1..pos + 1 + len)?.to_vec());
        step(len)?;
        pos += 1 + len;
    }
}

/// Passes over a name at `pos` as the original does
/// (`dns_packet_skipname`): labels up to a zero byte or to a pointer,
/// which is not followed; a length byte from 64 to 191 is an error. The
/// position after it.
fn skip_name(msg: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = *msg.get(pos)?;
        pos += 1;
        match len {
            0 => return Some(pos),
            192.. => return Some(pos + 1),
            64.. => return None,
            _ => pos += usize::from(len),
        }
    }
}

/// What one server said.
enum Reply {
    Records(Vec<Record>),
    /// Truncated: ask again over TCP.
    Truncated,
    /// Refused, SERVFAIL...: try the next server.
    Failed,
    /// A reply to the query whose answers run past its end: the lookup
    /// fails (`protocol error`), as the original's.
    Malformed,
}

/// Whether `msg` is a reply to `query` (the packet we sent): same id, the
/// response bit, one question equal to ours (name without regard to case,
/// type and class). Returns the position after the question.
fn answers(msg: &[u8], query: &[u8]) -> Option<usize> {
    if msg.len() < 12 || query.len() < 12 || msg[..2] != query[..2] || msg[2] & 0x80 == 0 {
        return None;
    }
    if u16::from_be_bytes([msg[4], msg[5]]) != 1 {
        return None;
    }
    let (ours, qend) = read_name(query, 12)?;
    let (theirs, end) = read_name(msg, 12)?;
    let same = ours.len() == theirs.len()
        && ours
            .iter()
            .zip(&theirs)
            .all(|(a, b)| a.eq_ignore_ascii_case(b));
    if !same || msg.get(end..end + 4)? != query.get(qend..qend + 4)? {
        return None;
    }
    Some(end + 4)
}

/// The records of `qtype` in `msg`, if it is a reply to `query`.
fn parse_reply(msg: &[u8], query: &[u8], qtype: u16) -> Option<Reply> {
    let pos = answers(msg, query)?;
    if msg[2] & 0x02 != 0 {
        return Some(Reply::Truncated);
    }
    let rcode = msg[3] & 0x0f;
    if rcode != 0 && rcode != 3 {
        return Some(Reply::Failed);
    }
    Some(records(msg, pos, qtype).map_or(Reply::Malformed, Reply::Records))
}

/// The answer records of `qtype` from `pos` on, read as the original
/// reads them: a record of another type or class, or an address of
/// another size, is passed over by its length unread; `None` if what is
/// read runs past the end of the message.
fn records(msg: &[u8], mut pos: usize, qtype: u16) -> Option<Vec<Record>> {
    let an = u16::from_be_bytes([msg[6], msg[7]]);
    let mut out = Vec::new();
    for _ in 0..an {
        let p = skip_name(msg, pos)?;
        let h = msg.get(p..p + 10)?;
        let t = u16::from_be_bytes([h[0], h[1]]);
        let class = u16::from_be_bytes([h[2], h[3]]);
        let len = u16::from_be_bytes([h[8], h[9]]) as usize;
        let at = p + 10;
        if class == 1 && t == qtype {
            match t {
                T_A if len == 4 => {
                    let rd = msg.get(at..at + 4)?;
                    out.push(Record::A([rd[0], rd[1], rd[2], rd[3]]));
                }
                T_AAAA if len == 16 => {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(msg.get(at..at + 16)?);
                    out.push(Record::Aaaa(a));
                }
                // The name is read from the message, whatever the length;
                // the first one is the answer, and what follows it is not
                // read (the original's dns_name_packet).
                T_PTR => return Some(vec![Record::Ptr(read_name(msg, at)?.0)]),
                T_TXT => {
                    // Character-strings: each length byte starts one; a
                    // length past the record's end ends with the record.
                    let mut txt = Vec::new();
                    let mut left = 0u8;
                    for &c in msg.get(at..at + len)? {
                        if left == 0 {
                            left = c;
                        } else {
                            left -= 1;
                            txt.push(c);
                        }
                    }
                    out.push(Record::Txt(txt));
                }
                _ => {}
            }
        }
        pos = at + len;
    }
    Some(out)
}

fn bind_any(server: &IpAddr) -> std::io::Result<UdpSocket> {
    match server {
        IpAddr::V4(_) => UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)),
        IpAddr::V6(_) => UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0)),
    }
}

/// Asks `server` again over TCP; the error that stopped it, as the
/// original reports it (`connection refused`, `timed out`), if it did.
fn ask_tcp(server: IpAddr, packet: &[u8], qtype: u16) -> Result<Option<Reply>, Errno> {
    let err = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => Errno::ETIMEDOUT,
        _ => common::diag::errno_of(&e),
    };
    let mut s =
        TcpStream::connect_timeout(&SocketAddr::new(server, 53), TCP_TIMEOUT).map_err(err)?;
    s.set_read_timeout(Some(TCP_TIMEOUT)).map_err(err)?;
    let mut out = (packet.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(packet);
    s.write_all(&out).map_err(err)?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).map_err(err)?;
    let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut msg).map_err(err)?;
    Ok(parse_reply(&msg, packet, qtype))
}

/// Asks the servers for `name`'s records of `qtype`.
pub fn query(name: &[u8], qtype: u16, rng: &mut Rng) -> Result<Vec<Record>, Errno> {
    let servers = servers();
    let id = query_id(rng);
    let mut packet = Vec::with_capacity(64);
    packet.extend_from_slice(&id.to_be_bytes());
    packet.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    encode_name(name, &mut packet)?;
    packet.extend_from_slice(&qtype.to_be_bytes());
    packet.extend_from_slice(&[0, 1]);
    let mut last = Errno::EAGAIN;
    let mut alive = vec![true; servers.len()];
    for secs in ROUNDS {
        for (i, &server) in servers.iter().enumerate() {
            if !alive[i] {
                continue;
            }
            let Ok(sock) = bind_any(&server) else {
                continue;
            };
            if sock.connect((server, 53)).is_err() || sock.send(&packet).is_err() {
                alive[i] = false;
                continue;
            }
            let deadline = Instant::now() + Duration::from_secs(secs);
            let mut buf = [0u8; 4096];
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    last = Errno::ETIMEDOUT;
                    break;
                }
                let _ = sock.set_read_timeout(Some(left));
                match sock.recv(&mut buf) {
                    Ok(n) => match parse_reply(&buf[..n], &packet, qtype) {
                        None => continue,
                        Some(Reply::Records(r)) => return Ok(r),
                        Some(Reply::Malformed) => return Err(Errno::EPROTO),
                        Some(Reply::Truncated) => match ask_tcp(server, &packet, qtype) {
                            Ok(Some(Reply::Records(r))) => return Ok(r),
                            Ok(Some(Reply::Malformed)) => return Err(Errno::EPROTO),
                            Err(e) => {
                                last = e;
                                alive[i] = false;
                                break;
                            }
                            _ => {
                                alive[i] = false;
                                break;
                            }
                        },
                        Some(Reply::Failed) => {
                            alive[i] = false;
                            break;
                        }
                    },
                    Err(e)
                        if e.kind() == std::io::ErrorKind::WouldBlock
                            || e.kind() == std::io::ErrorKind::TimedOut =>
                    {
                        last = Errno::ETIMEDOUT;
                        break;
                    }
                    Err(_) => {
                        // Connection refused (nothing listens there).
                        alive[i] = false;
                        break;
                    }
                }
            }
        }
        if !alive.iter().any(|&a| a) {
            break;
        }
    }
    Err(last)
}

/// The PTR query name of an address.
pub fn ptr_name(ip: &Ip6) -> Vec<u8> {
    if let Some(v4) = addr::as_v4(ip) {
        return format!("{}.{}.{}.{}.in-addr.arpa", v4[3], v4[2], v4[1], v4[0]).into_bytes();
    }
    let mut s = String::with_capacity(72);
    for b in ip.iter().rev() {
        s.push_str(&format!("{:x}.{:x}.", b & 15, b >> 4));
    }
    s.push_str("ip6.arpa");
    s.into_bytes()
}

/// A name as text: lowercase, `a-z0-9-_` kept, other bytes as `\ooo`.
pub fn format_name(labels: &[Vec<u8>]) -> Vec<u8> {
    if labels.is_empty() {
        return b".".to_vec();
    }
    let mut out = Vec::new();
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        for &c in l {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_' {
                out.push(c);
            } else {
                out.extend_from_slice(format!("\\{c:03o}").as_bytes());
            }
        }
    }
    out
}

/// Address to name: `Ok(Some(name))`, `Ok(None)` when there is no PTR
/// record (the caller decides what empty means), `Err` on failure.
pub fn name_of(ip: &Ip6, rng: &mut Rng) -> Result<Option<Vec<u8>>, Errno> {
    for r in query(&ptr_name(ip), T_PTR, rng)? {
        if let Record::Ptr(labels) = r {
            return Ok(Some(format_name(&labels)));
        }
    }
    Ok(None)
}

/// The addresses of a name, without qualification (A, and AAAA first
/// unless `v4_only`), v4-mapped, shuffled.
pub fn addresses(name: &[u8], v4_only: bool, rng: &mut Rng) -> Result<Vec<Ip6>, Errno> {
    let mut out = Vec::new();
    if !v4_only {
        for r in query(name, T_AAAA, rng)? {
            if let Record::Aaaa(a) = r {
                out.push(a);
            }
        }
    }
    for r in query(name, T_A, rng)? {
        if let Record::A(a) = r {
            out.push(addr::mapped(a));
        }
    }
    rng.shuffle(&mut out);
    Ok(out)
}

/// TXT records of a name, each concatenated, bytes outside 32..=126 as `?`.
pub fn txt(name: &[u8], rng: &mut Rng) -> Result<Vec<u8>, Errno> {
    let mut out = Vec::new();
    for r in query(name, T_TXT, rng)? {
        if let Record::Txt(t) = r {
            out.extend(
                t.iter()
                    .map(|&b| if (32..=126).contains(&b) { b } else { b'?' }),
            );
        }
    }
    Ok(out)
}

/// `?:+.D1+.D2...` and `*.:`: the domains appended to a name without a dot,
/// and one trailing dot removed. (`+.` before a domain that begins with a
/// dot, or before an empty one, makes an empty label, which a query leaves
/// out, as the original's does.)
fn search_rules<'a>(domains: impl Iterator<Item = &'a [u8]>) -> Vec<(u8, Vec<u8>, Vec<u8>)> {
    let mut repl = Vec::new();
    for d in domains {
        repl.extend_from_slice(b"+.");
        repl.extend_from_slice(d);
    }
    vec![(b'?', Vec::new(), repl), (b'*', b".".to_vec(), Vec::new())]
}

/// `$LOCALDOMAIN`'s rules, as the original splits it: at each space only,
/// every piece kept, an empty one too (`" b.test"` tries the name as it is
/// before the name in b.test; a tab is part of a domain).
fn local_domain_rules(ld: &[u8]) -> Vec<(u8, Vec<u8>, Vec<u8>)> {
    search_rules(ld.split(|&c| c == b' '))
}

/// The qualification rules of spec/dns.md, as `(kind, suffix, replacement)`.
fn rewrite_rules() -> Vec<(u8, Vec<u8>, Vec<u8>)> {
    let parse = |text: &str| -> Vec<(u8, Vec<u8>, Vec<u8>)> {
        text.lines()
            .map(|l| l.trim_end_matches([' ', '\t', '\r']))
            .filter_map(|l| {
                let b = l.as_bytes();
                let kind = *b.first()?;
                let colon = b.iter().position(|&c| c == b':')?;
                Some((kind, b[1..colon].to_vec(), b[colon + 1..].to_vec()))
            })
            .collect()
    };
    // Names are bytes: a path or a domain that is not UTF-8 is used as it is.
    let file = std::env::var_os("DNSREWRITEFILE").unwrap_or_else(|| "/etc/dnsrewrite".into());
    if let Some(t) = common::file::read_text(&file, SYSTEM_FILE_MAX) {
        return parse(&t);
    }
    if let Some(ld) = std::env::var_os("LOCALDOMAIN") {
        return local_domain_rules(std::os::unix::ffi::OsStrExt::as_bytes(ld.as_os_str()));
    }
    if let Some(conf) = common::file::read_text("/etc/resolv.conf", SYSTEM_FILE_MAX) {
        for line in conf.lines() {
            for kw in ["search", "domain"] {
                if let Some(rest) = line.strip_prefix(kw) {
                    if rest.starts_with([' ', '\t']) {
                        let domains = rest
                            .split([' ', '\t'])
                            .filter(|d| !d.is_empty())
                            .map(str::as_bytes);
                        return search_rules(domains);
                    }
                }
            }
        }
    }
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    if let Some(dot) = host.find('.') {
        return vec![
            (b'?', Vec::new(), host.as_bytes()[dot..].to_vec()),
            (b'*', b".".to_vec(), Vec::new()),
        ];
    }
    vec![(b'*', b".".to_vec(), Vec::new())]
}

/// Applies the qualification rules; returns the candidate names in order.
pub fn qualify(name: &[u8]) -> Vec<Vec<u8>> {
    let mut n = name.to_vec();
    for (kind, suffix, repl) in rewrite_rules() {
        let ends =
            n.len() >= suffix.len() && n[n.len() - suffix.len()..].eq_ignore_ascii_case(&suffix);
        match kind {
            b'=' if n == suffix => n = repl.clone(),
            b'*' if ends => {
                n.truncate(n.len() - suffix.len());
                n.extend_from_slice(&repl);
            }
            b'?' if ends
                && !n[..n.len() - suffix.len()]
                    .iter()
                    .any(|&c| matches!(c, b'.' | b'[' | b']' | b':')) =>
            {
                n.truncate(n.len() - suffix.len());
                n.extend_from_slice(&repl);
            }
            b'-' if ends => n = repl.clone(),
            _ => {}
        }
    }
    let mut parts = n.split(|&b| b == b'+');
    let base = parts.next().unwrap_or_default().to_vec();
    let alts: Vec<Vec<u8>> = parts.map(|p| [base.as_slice(), p].concat()).collect();
    if alts.is_empty() {
        vec![base]
    } else {
        alts
    }
}

/// Host argument to addresses (spec/dns.md): qualification, the numeric
/// shortcut, IPv6 literals, then DNS. `Ok(empty)` means "no IP address".
pub fn resolve_host(name: &[u8], v4_only: bool, rng: &mut Rng) -> Result<Vec<Ip6>, Errno> {
    for cand in qualify(name) {
        if let Some(v4) = addr::numeric4(&cand) {
            if !v4.is_empty() {
                return Ok(v4.into_iter().map(addr::mapped).collect());
            }
            continue;
        }
        if let Some((a, _)) =
            addr::scan6(&cand).filter(|&(_, n)| n == cand.len() && cand.contains(&b':'))
        {
            return Ok(vec![a]);
        }
        let found = addresses(&cand, v4_only, rng)?;
        if !found.is_empty() {
            return Ok(found);
        }
    }
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            ptr_name(&addr::mapped([127, 0, 0, 1])),
            b"1.0.0.127.in-addr.arpa"
        );
        let mut v6 = [0u8; 16];
        v6[15] = 1;
        assert!(ptr_name(&v6).starts_with(b"1.0.0.0."));
        assert!(ptr_name(&v6).ends_with(b".0.ip6.arpa"));
        let labels = vec![b"Host One".to_vec(), b"Ex.ample".to_vec(), b"com".to_vec()];
        assert_eq!(format_name(&labels), b"host\\040one.ex\\056ample.com");
        assert_eq!(format_name(&[]), b".");
    }

    #[test]
    fn servers_from_env_text() {
        let (a, b) = (IpAddr::from([127, 0, 0, 1]), IpAddr::from([10, 0, 0, 1]));
        for (text, want) in [
            (&b"127.0.0.1 10.0.0.1"[..], vec![a, b]),
            (b"127.0.0.1,10.0.0.1", vec![a, b]),
            // The original's own separator, and its scan.
            (b"127.0.0.1.10.0.0.1", vec![a, b]),
            (b".127.0.0.1..10.0.0.1.", vec![a, b]),
            (b"127.0.0.1:53 10.0.0.1", vec![a]),
            (b"0127.0.0.1xyz", vec![a]),
            (b"383.0.0.1/8", vec![a]),
            (b"127.0.0 10.0.0.1", vec![]),
            (b"::ffff:127.0.0.1", vec![a]),
            (b"::1", vec![IpAddr::from(Ipv6Addr::LOCALHOST)]),
        ] {
            assert_eq!(
                parse_servers(text),
                want,
                "{}",
                String::from_utf8_lossy(text)
            );
        }
        let many = b"10.0.0.1 ".repeat(20);
        assert_eq!(parse_servers(&many).len(), MAX_SERVERS);
        let conf = "# nameserver 10.9.9.9\nnameserver\t 127.0.0.1 # the cache\n\
                    nameserver10.9.9.8\nnameserver 10.0.0.1%eth0\nnameserver bad\n\
                    search example.org\nnameserver ::1\n";
        assert_eq!(
            nameservers(conf),
            vec![a, b, IpAddr::from(Ipv6Addr::LOCALHOST)]
        );
        let many = "nameserver 10.0.0.1\n".repeat(20);
        assert_eq!(nameservers(&many).len(), MAX_SERVERS);
    }

    /// The query packet for `name`, with id 0x1234.
    fn query_packet(name: &[u8], qtype: u16) -> Vec<u8> {
        let mut p = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        encode_name(name, &mut p).unwrap();
        p.extend_from_slice(&qtype.to_be_bytes());
        p.extend_from_slice(&[0, 1]);
        p
    }

    /// A reply to `q` with one PTR answer (compressed pointer to the
    /// question's name, then a name of its own).
    fn ptr_reply(q: &[u8]) -> Vec<u8> {
        let mut r = q.to_vec();
        r[2] = 0x81;
        r[3] = 0x80;
        r[7] = 1;
        r.extend_from_slice(&[0xc0, 12, 0, 12, 0, 1, 0, 0, 0, 60]);
        let mut rd = Vec::new();
        encode_name(b"host.example.com", &mut rd).unwrap();
        r.extend_from_slice(&(rd.len() as u16).to_be_bytes());
        r.extend_from_slice(&rd);
        r
    }

    fn records(r: Option<Reply>) -> Option<Vec<Record>> {
        match r {
            Some(Reply::Records(v)) => Some(v),
            _ => None,
        }
    }

    #[test]
    fn a_reply_must_carry_our_question() {
        let q = query_packet(b"1.0.0.127.in-addr.arpa", T_PTR);
        let ok = ptr_reply(&q);
        assert_eq!(
            records(parse_reply(&ok, &q, T_PTR)),
            Some(vec![Record::Ptr(vec![
                b"host".to_vec(),
                b"example".to_vec(),
                b"com".to_vec()
            ])])
        );
        // The name's case does not matter.
        let upper = ptr_reply(&query_packet(b"x.EXAMPLE", T_PTR));
        let lower = query_packet(b"X.example", T_PTR);
        assert!(records(parse_reply(&upper, &lower, T_PTR)).is_some());
        let mut other_name = ok.clone();
        other_name[13] = b'2';
        assert!(parse_reply(&other_name, &q, T_PTR).is_none());
        let other_type = {
            let q = query_packet(b"1.0.0.127.in-addr.arpa", T_A);
            ptr_reply(&q)
        };
        assert!(parse_reply(&other_type, &q, T_PTR).is_none());
        let mut other_id = ok.clone();
        other_id[1] ^= 1;
        assert!(parse_reply(&other_id, &q, T_PTR).is_none());
        let mut two_questions = ok.clone();
        two_questions[5] = 2;
        assert!(parse_reply(&two_questions, &q, T_PTR).is_none());
        let mut not_a_response = ok;
        not_a_response[2] &= 0x7f;
        assert!(parse_reply(&not_a_response, &q, T_PTR).is_none());
    }

    /// A reply to `q` whose answer section is `answers` (`count` records).
    fn reply_with(q: &[u8], count: u8, answers: &[u8]) -> Vec<u8> {
        let mut r = q.to_vec();
        r[2] = 0x81;
        r[3] = 0x80;
        r[7] = count;
        r.extend_from_slice(answers);
        r
    }

    /// A reply to our question whose answers cannot be read is an error of
    /// the lookup (`protocol error`) at once, as the original's, not a
    /// packet to pass over while waiting for another: ours waited out
    /// every round, about a minute, for each such reply. What the original
    /// passes over unread (another type or class, an address of another
    /// size) is passed over here too.
    #[test]
    fn a_damaged_answer_fails_the_lookup_as_the_original() {
        let ptr_q = query_packet(b"1.0.0.127.in-addr.arpa", T_PTR);
        let good = ptr_reply(&ptr_q);
        let answer_at = ptr_q.len();
        for cut in [answer_at + 1, answer_at + 5, answer_at + 12, good.len() - 1] {
            assert!(
                matches!(
                    parse_reply(&good[..cut], &ptr_q, T_PTR),
                    Some(Reply::Malformed)
                ),
                "cut at {cut}"
            );
        }
        let a_q = query_packet(b"www.example", T_A);
        let rr = |t: u16, class: u16, len: u16, data: &[u8]| {
            let mut v = vec![0xc0, 12];
            v.extend_from_slice(&t.to_be_bytes());
            v.extend_from_slice(&class.to_be_bytes());
            v.extend_from_slice(&[0, 0, 0, 60]);
            v.extend_from_slice(&len.to_be_bytes());
            v.extend_from_slice(data);
            v
        };
        let here = [127, 0, 0, 1];
        for (answers, count, want) in [
            // An address of 40 bytes, cut short: passed over unread.
            (rr(T_A, 1, 40, &here), 1, Some(vec![])),
            // Another type or class, running past the end: the same.
            (rr(5, 1, 200, b"x"), 1, Some(vec![])),
            (rr(T_A, 3, 4, &here), 1, Some(vec![])),
            // An address cut short, a header cut short, a second record
            // that is not there.
            (rr(T_A, 1, 4, &here[..2]), 1, None),
            (rr(T_A, 1, 4, &here)[..8].to_vec(), 1, None),
            (rr(T_A, 1, 4, &here), 2, None),
            (
                [rr(T_A, 1, 4, &here), rr(T_A, 1, 4, &[10, 0, 0, 1])].concat(),
                2,
                Some(vec![Record::A(here), Record::A([10, 0, 0, 1])]),
            ),
        ] {
            let reply = reply_with(&a_q, count, &answers);
            let got = match parse_reply(&reply, &a_q, T_A) {
                Some(Reply::Records(r)) => Some(r),
                Some(Reply::Malformed) => None,
                _ => panic!("not taken as a reply: {answers:?}"),
            };
            assert_eq!(got, want, "{answers:?}");
        }
        // A character-string longer than its record ends with the record.
        let txt_q = query_packet(b"2.0.0.127.rbl.example", T_TXT);
        let reply = reply_with(&txt_q, 1, &rr(T_TXT, 1, 6, b"\x02ab\x09cd"));
        assert_eq!(
            records(parse_reply(&reply, &txt_q, T_TXT)),
            Some(vec![Record::Txt(b"abcd".to_vec())])
        );
    }

    /// A xorshift generator for the property tests (no dependency).
    struct Gen(u64);
    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    #[test]
    fn random_and_damaged_packets_never_panic_or_loop() {
        let q = query_packet(b"1.0.0.127.in-addr.arpa", T_PTR);
        let good = ptr_reply(&q);
        let mut g = Gen(0x9e37_79b9_7f4a_7c15);
        let started = Instant::now();
        // Every truncation of a good reply: a clean refusal, never a panic.
        for n in 0..good.len() {
            let r = parse_reply(&good[..n], &q, T_PTR);
            assert!(records(r).is_none_or(|v| v.is_empty()), "cut at {n}");
        }
        for _ in 0..20_000 {
            // Pure noise, noise behind our header and question, and the good
            // reply with a few bytes changed (pointers that loop, lengths
            // past the end, counts of 65535).
            let n = (g.next() % 600) as usize;
            let noise = g.bytes(n);
            let _ = parse_reply(&noise, &q, T_PTR);
            let _ = read_name(&noise, (g.next() % 16) as usize);
            let mut behind = q.clone();
            behind[2] = 0x81;
            behind.extend_from_slice(&noise);
            behind[6] = g.next() as u8;
            behind[7] = g.next() as u8;
            let _ = parse_reply(&behind, &q, T_PTR);
            let mut bent = good.clone();
            for _ in 0..1 + g.next() % 4 {
                let i = (g.next() as usize) % bent.len();
                bent[i] = g.next() as u8;
            }
            let _ = parse_reply(&bent, &q, T_TXT);
            let _ = parse_reply(&bent, &q, T_PTR);
        }
        // A name made only of pointers to itself ends (bounded walk).
        let mut looping = q.clone();
        looping[2] = 0x81;
        looping[7] = 1;
        let at = looping.len();
        looping.extend_from_slice(&[
            0xc0, at as u8, 0, 12, 0, 1, 0, 0, 0, 0, 0, 2, 0xc0, at as u8,
        ]);
        assert!(matches!(
            parse_reply(&looping, &q, T_PTR),
            Some(Reply::Malformed)
        ));
        assert!(read_name(&looping, at).is_none());
        assert!(started.elapsed() < Duration::from_secs(30));
    }
}

//! Pieces shared by tcpserver and tcpclient: port names, socket addresses
//! to and from 16-byte addresses.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::addr::{self, Ip6};

/// PORT as the originals read it: all digits (the empty string too) is a
/// number truncated to 16 bits; otherwise a service name from
/// /etc/services (tcp).
pub fn port(s: &[u8]) -> Option<u16> {
    if s.iter().all(u8::is_ascii_digit) {
        let v = s.iter().fold(0u64, |v, &d| {
            v.wrapping_mul(10).wrapping_add(u64::from(d - b'0'))
        });
        return Some(v as u16);
    }
    // Bounded and non-blocking, as every file another program controls.
    let services = common::file::read_text("/etc/services", 4 << 20)?;
    service(&services, s)
}

/// The tcp port of the service named `s` (or aliased so) in `services`,
/// read as the C library reads the file: a line whose port it cannot read
/// is passed over.
fn service(services: &str, s: &[u8]) -> Option<u16> {
    for line in services.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let (Some(name), Some(pp)) = (words.next(), words.next()) else {
            continue;
        };
        let Some((num, proto)) = pp.split_once('/') else {
            continue;
        };
        let Some(number) = service_number(num).filter(|_| proto == "tcp") else {
            continue;
        };
        if name.as_bytes() == s || words.any(|alias| alias.as_bytes() == s) {
            return Some(number);
        }
    }
    None
}

/// A port number as the C library reads it (`strtoul`, base 0: `0x`
/// hexadecimal, a leading 0 octal, a `+` allowed, a `-` not), at most
/// 2^32 - 1, truncated to 16 bits: `0x10` is 16, `0107` is 71, `70000` is
/// 4464 (as Debian's C tcpserver finds them).
fn service_number(t: &str) -> Option<u16> {
    let t = t.strip_prefix('+').unwrap_or(t);
    let (digits, radix) = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None if t.len() > 1 && t.starts_with('0') => (&t[1..], 8),
        None => (t, 10),
    };
    let mut v: u64 = 0;
    for c in digits.chars() {
        v = v
            .saturating_mul(u64::from(radix))
            .saturating_add(u64::from(c.to_digit(radix)?));
    }
    (!digits.is_empty() && v <= u64::from(u32::MAX)).then_some(v as u16)
}

/// A socket address as (16-byte address, port, scope id).
pub fn split(sa: &SocketAddr) -> (Ip6, u16, u32) {
    match sa {
        SocketAddr::V4(a) => (addr::mapped(a.ip().octets()), a.port(), 0),
        SocketAddr::V6(a) => (a.ip().octets(), a.port(), a.scope_id()),
    }
}

/// A socket address for `ip`: IPv4 if `v4` and the address is v4-mapped.
pub fn join(ip: &Ip6, port: u16, scope: u32, v4: bool) -> SocketAddr {
    match addr::as_v4(ip).filter(|_| v4) {
        Some(a) => SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(a), port)),
        None => SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(*ip), port, 0, scope)),
    }
}

/// `if_nametoindex`, 0 for an unknown name (as the original).
pub fn if_index(name: &[u8]) -> u32 {
    std::str::from_utf8(name)
        .ok()
        .and_then(|n| nix::net::if_::if_nametoindex(n).ok())
        .unwrap_or(0)
}

/// The interface name of a scope id; `[unknown]` if it has none.
pub fn if_name(index: u32) -> String {
    nix::net::if_::if_nameindex()
        .ok()
        .and_then(|l| {
            l.iter()
                .find(|i| i.index() == index)
                .map(|i| i.name().to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "[unknown]".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_read_as_the_c_library_reads_them() {
        let text = "# smtp 24/tcp\nsmtp\t\t25/tcp\t\tmail\ndup 100/tcp\ndup 101/tcp\n\
                    casety 103/TCP\nboth 105/udp\nboth 106/tcp\nbig 70000/tcp\n\
                    neg -1/tcp\nhex 0x10/tcp\nlead 0107/tcp\noct 08/tcp\noct 9/tcp\n\
                    trail 108/tcp# x\nalias 109/tcp al1 al2 # al4\n  indented 110/tcp\n\
                    crlf 111/tcp\r\nhuge 99999999999999999999999/tcp\nplus +7/tcp\n\
                    plusplus ++7/tcp\nwide 4294967296/tcp\nzero 00/tcp\nwrap 65536/tcp\n\
                    upperhex 0XFF/tcp\nnohex 0x/tcp\n";
        for (name, want) in [
            ("smtp", Some(25)),
            ("mail", Some(25)),
            ("dup", Some(100)),
            ("casety", None),
            ("both", Some(106)),
            ("big", Some(4464)),
            ("neg", None),
            ("hex", Some(16)),
            ("lead", Some(71)),
            // A line the library cannot read is passed over.
            ("oct", Some(9)),
            ("trail", Some(108)),
            ("al2", Some(109)),
            ("al4", None),
            ("indented", Some(110)),
            ("crlf", Some(111)),
            ("huge", None),
            ("plus", Some(7)),
            ("plusplus", None),
            ("wide", None),
            ("zero", Some(0)),
            ("wrap", Some(0)),
            ("upperhex", Some(255)),
            ("nohex", None),
            ("24", None),
        ] {
            assert_eq!(service(text, name.as_bytes()), want, "{name}");
        }
    }

    #[test]
    fn ports() {
        assert_eq!(port(b"25"), Some(25));
        assert_eq!(port(b""), Some(0));
        assert_eq!(port(b"65561"), Some(25));
        assert_eq!(port(b"no-such-service-name"), None);
    }
}

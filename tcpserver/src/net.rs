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
    for line in services.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let (Some(name), Some(pp)) = (words.next(), words.next()) else {
            continue;
        };
        let Some((num, proto)) = pp.split_once('/') else {
            continue;
        };
        if proto != "tcp" {
            continue;
        }
        if name.as_bytes() == s || words.any(|alias| alias.as_bytes() == s) {
            return num.parse().ok();
        }
    }
    None
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
    fn ports() {
        assert_eq!(port(b"25"), Some(25));
        assert_eq!(port(b""), Some(0));
        assert_eq!(port(b"65561"), Some(25));
        assert_eq!(port(b"no-such-service-name"), None);
    }
}

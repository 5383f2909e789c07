//! Address text, as the originals write and read it (spec/ipv6.md).
//!
//! Internally every address is 16 bytes; IPv4 addresses are v4-mapped
//! (`::ffff:a.b.c.d`).

use std::net::Ipv6Addr;

/// A 16-byte address.
pub type Ip6 = [u8; 16];

/// `::` — the any-address.
pub const ANY6: Ip6 = [0; 16];

/// The v4-mapped form of an IPv4 address.
pub fn mapped(v4: [u8; 4]) -> Ip6 {
    let mut a = [0u8; 16];
    a[10] = 0xff;
    a[11] = 0xff;
    a[12..].copy_from_slice(&v4);
    a
}

/// The IPv4 address of a v4-mapped address.
pub fn as_v4(a: &Ip6) -> Option<[u8; 4]> {
    (a[..10].iter().all(|&b| b == 0) && a[10] == 0xff && a[11] == 0xff)
        .then(|| [a[12], a[13], a[14], a[15]])
}

/// Dotted quad.
pub fn fmt4(a: [u8; 4]) -> String {
    Quad(a).to_string()
}

/// An IPv4 address written as a dotted quad, wherever it is formatted to
/// (tcpserver's parent writes it on the stack).
pub struct Quad(pub [u8; 4]);

impl std::fmt::Display for Quad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let a = self.0;
        write!(f, "{}.{}.{}.{}", a[0], a[1], a[2], a[3])
    }
}

/// `ip6_fmt`: lowercase hex groups, the longest (first on ties) run of zero
/// groups compressed even when it is a single group, v4-mapped addresses
/// ending in a dotted quad.
pub fn fmt6(a: &Ip6) -> String {
    if let Some(v4) = as_v4(a) {
        return format!("::ffff:{}", fmt4(v4));
    }
    let g: Vec<u16> = (0..8)
        .map(|i| u16::from_be_bytes([a[2 * i], a[2 * i + 1]]))
        .collect();
    let (mut best, mut best_len) = (None, 0);
    let mut i = 0;
    while i < 8 {
        if g[i] == 0 {
            let start = i;
            while i < 8 && g[i] == 0 {
                i += 1;
            }
            if i - start > best_len {
                best = Some(start);
                best_len = i - start;
            }
        } else {
            i += 1;
        }
    }
    let mut s = String::with_capacity(39);
    let mut i = 0;
    while i < 8 {
        if Some(i) == best {
            s.push(':');
            if i == 0 {
                s.push(':');
            }
            i += best_len;
            continue;
        }
        s.push_str(&format!("{:x}", g[i]));
        if i < 7 {
            s.push(':');
        }
        i += 1;
    }
    s
}

/// The numeric shortcut of the djbdns client (spec/dns.md): a name of only
/// digits, dots and brackets is read as bytes (each wrapping modulo 256),
/// truncated to a multiple of 4; `None` if the name has other characters.
pub fn numeric4(name: &[u8]) -> Option<Vec<[u8; 4]>> {
    if name.is_empty()
        || !name
            .iter()
            .all(|&b| b.is_ascii_digit() || matches!(b, b'.' | b'[' | b']'))
    {
        return None;
    }
    let mut bytes = Vec::new();
    let mut cur: Option<u8> = None;
    for &b in name {
        match b {
            b'0'..=b'9' => cur = Some(cur.unwrap_or(0).wrapping_mul(10).wrapping_add(b - b'0')),
            b'.' => {
                if let Some(c) = cur.take() {
                    bytes.push(c);
                }
            }
            _ => {}
        }
    }
    if let Some(c) = cur {
        bytes.push(c);
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|c| [c[0], c[1], c[2], c[3]])
            .collect(),
    )
}

/// Longest IPv6 text: eight groups of four, the last 32 bits as a dotted
/// quad (`ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`).
const MAX_TEXT6: usize = 45;

/// djb's `ip4_scan`: the dotted quad at the start of `s` (four runs of
/// decimal digits separated by `.`, each taken modulo 256, as the
/// original stores its unsigned long in a byte) and how many bytes it
/// took; `None` if `s` does not start with one. What follows is left:
/// `127.0.0.1xyz` is 127.0.0.1, `383.0.0.1` is too.
pub fn scan4(s: &[u8]) -> Option<([u8; 4], usize)> {
    let mut ip = [0u8; 4];
    let mut at = 0;
    for (i, byte) in ip.iter_mut().enumerate() {
        if i > 0 {
            if s.get(at) != Some(&b'.') {
                return None;
            }
            at += 1;
        }
        let (v, n) = common::args::scan_ulong(&s[at..]);
        if n == 0 {
            return None;
        }
        *byte = v as u8;
        at += n;
    }
    Some((ip, at))
}

/// The IPv6 build's `scan_ip6` (spec/ipv6.md): a dotted quad at the start
/// of `s` (v4-mapped, as [`scan4`]), else the longest start of `s` that is
/// IPv6 text; the address and how many bytes it took.
pub fn scan6(s: &[u8]) -> Option<(Ip6, usize)> {
    if let Some((v4, n)) = scan4(s) {
        return Some((mapped(v4), n));
    }
    let run = s
        .iter()
        .take(MAX_TEXT6)
        .take_while(|&&c| c.is_ascii_hexdigit() || c == b':' || c == b'.')
        .count();
    (1..=run).rev().find_map(|n| {
        let text = std::str::from_utf8(&s[..n]).ok()?;
        text.parse::<Ipv6Addr>().ok().map(|a| (a.octets(), n))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Ip6 {
        s.parse::<Ipv6Addr>().unwrap().octets()
    }

    #[test]
    fn ip6_fmt_forms() {
        for (a, want) in [
            ("2001:db8::1", "2001:db8::1"),
            ("::1", "::1"),
            ("::", "::"),
            ("1:0:2:3:4:5:6:7", "1::2:3:4:5:6:7"),
            ("fe80::1:0", "fe80::1:0"),
            ("1:2:3:4:5:6:7:0", "1:2:3:4:5:6:7::"),
            ("::ffff:127.0.0.1", "::ffff:127.0.0.1"),
            ("::1.2.3.4", "::102:304"),
            ("1:0:0:2:0:0:0:3", "1:0:0:2::3"),
            ("1:0:0:2:3:0:0:4", "1::2:3:0:0:4"),
        ] {
            assert_eq!(fmt6(&p(a)), want, "{a}");
        }
    }

    #[test]
    fn scans_as_the_original() {
        let v4 = |s: &[u8]| scan4(s);
        assert_eq!(v4(b"127.0.0.1"), Some(([127, 0, 0, 1], 9)));
        assert_eq!(v4(b"127.0.0.1xyz"), Some(([127, 0, 0, 1], 9)));
        assert_eq!(v4(b"127.0.0.1.10.0.0.1"), Some(([127, 0, 0, 1], 9)));
        assert_eq!(v4(b"0127.000.0.01"), Some(([127, 0, 0, 1], 13)));
        assert_eq!(v4(b"383.0.0.1"), Some(([127, 0, 0, 1], 9)));
        assert_eq!(v4(b"127.0.0"), None);
        assert_eq!(v4(b"127.0.0."), None);
        assert_eq!(v4(b".127.0.0.1"), None);
        assert_eq!(v4(b" 127.0.0.1"), None);
        assert_eq!(v4(b""), None);
        assert_eq!(scan6(b"10.0.0.1:53"), Some((mapped([10, 0, 0, 1]), 8)));
        assert_eq!(scan6(b"::1"), Some((p("::1"), 3)));
        assert_eq!(scan6(b"2001:db8::1 ::2"), Some((p("2001:db8::1"), 11)));
        assert_eq!(scan6(b"fe80::1%lo"), Some((p("fe80::1"), 7)));
        assert_eq!(
            scan6(b"::ffff:10.0.0.1xyz"),
            Some((mapped([10, 0, 0, 1]), 15))
        );
        assert_eq!(scan6(b"xyz"), None);
        assert_eq!(scan6(b":"), None);
        // A long run of hex digits costs at most the longest address.
        let long = vec![b'a'; 1 << 20];
        assert_eq!(scan6(&long), None);
    }

    #[test]
    fn numeric_shortcut() {
        assert_eq!(numeric4(b"127.0.0.1.5"), Some(vec![[127, 0, 0, 1]]));
        assert_eq!(numeric4(b"383.0.0.1"), Some(vec![[127, 0, 0, 1]]));
        assert_eq!(numeric4(b"[10.0.0.1]"), Some(vec![[10, 0, 0, 1]]));
        assert_eq!(numeric4(b"1.2.3"), Some(vec![]));
        assert_eq!(numeric4(b"localhost"), None);
    }
}

//! tcpserver's rules: the tcprules line grammar, address ranges, the CDB
//! value encoding, and the lookup order (spec/tcprules.md).
//!
//! One grammar for IPv4 and IPv6 rules: the address ends at the first `:`
//! that is immediately followed by `deny` or `allow` (the IPv6 build's
//! rule, so `::1:allow` works). For every line the IPv4 build accepts this
//! is its first colon, so IPv4 rules compile to the same bytes. A line with
//! no such separator is skipped if it has no colon at all and is a bad line
//! otherwise (where the IPv6 build loops forever).
//!
//! CIDR rules (an extension, spec/extensions.md, docs/rules.md): an address
//! `a.b.c.d/L` compiles into the original's keys (exact addresses and
//! `a.b.c.`-style prefixes), which the C tcpserver reads too; an IPv6
//! `addr/L` into the key `^` and the first L bits as `0`/`1`, which only
//! ours looks up, after the textual prefixes. A CIDR rule's value ends with
//! an entry `#LINE/L`, which every reader of values ignores and from which
//! tcprulescheck, with the key, tells the rule (`from line 3: 10.1.16.0/20`).

use crate::cdb::{Error, Reader, Source};

/// A parsed rules line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// Comment, blank, or no colon: nothing to store.
    Skip,
    /// Keys (after range expansion) and the value they all get.
    Rule {
        keys: Vec<Vec<u8>>,
        value: Vec<u8>,
        /// For a CIDR line, its prefix.
        cidr: Option<Cidr>,
    },
}

/// The prefix of a CIDR rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// Prefix length.
    pub len: u8,
    /// An IPv6 prefix (keys `^` + bits).
    pub v6: bool,
}

/// Key of the record listing the IPv6 prefix lengths a database holds
/// (`48,64,128`, longest first): a lookup tries only those.
pub const V6_LENGTHS_KEY: &[u8] = b"^/";

/// How specific a record's key is, for ordering records of the same key:
/// a CIDR line's prefix length; for other lines, the length a dotted IPv4
/// key stands for (`1.2.3.` 24, `1.2.3.4` 32, the empty key of `:` 0, as
/// `0.0.0.0/0`), and above every prefix for anything else.
pub fn specificity(key: &[u8], cidr: Option<Cidr>) -> u16 {
    if let Some(c) = cidr {
        return u16::from(c.len);
    }
    if key.is_empty() {
        return 0;
    }
    if key.iter().all(|&b| b.is_ascii_digit() || b == b'.') {
        let dots = key.iter().filter(|&&b| b == b'.').count();
        return if key.ends_with(b".") {
            (dots * 8) as u16
        } else {
            32
        };
    }
    255
}

/// The line cannot be parsed; the payload is the line as reported
/// (trailing whitespace removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine(pub Vec<u8>);

/// Keys in one buffer, no allocation per key: those of one line (reused
/// from line to line by [`parse_line_into`]), or those one lookup tries
/// ([`lookup_keys`]).
#[derive(Debug, Default, Clone)]
pub struct Keys {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Keys {
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    /// Adds the key made of `parts`.
    fn push(&mut self, parts: &[&[u8]]) {
        self.push_with(|b| parts.iter().for_each(|p| b.extend_from_slice(p)));
    }

    /// Adds a key written by `write` at the end of the buffer.
    fn push_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        write(&mut self.bytes);
        self.ends.push(self.bytes.len());
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter())
            .map(|(a, &b)| &self.bytes[a..b])
    }
}

/// What [`parse_line_into`] fills: the keys and the value of a rule.
#[derive(Debug, Default, Clone)]
pub struct Parsed {
    pub keys: Keys,
    pub value: Vec<u8>,
}

/// What kind of line [`parse_line_into`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Comment, blank, or no colon: nothing to store.
    Skip,
    /// A rule, with its prefix if it is a CIDR line.
    Rule(Option<Cidr>),
}

/// Parses one input line (with or without its `\n`).
pub fn parse_line(line: &[u8]) -> Result<Line, BadLine> {
    let mut p = Parsed::default();
    Ok(match parse_line_into(line, &mut p)? {
        Kind::Skip => Line::Skip,
        Kind::Rule(cidr) => Line::Rule {
            keys: p.keys.iter().map(<[u8]>::to_vec).collect(),
            value: p.value,
            cidr,
        },
    })
}

/// [`parse_line`] into buffers kept from line to line: tcprules parses
/// 100,000 lines without an allocation per line.
pub fn parse_line_into(line: &[u8], out: &mut Parsed) -> Result<Kind, BadLine> {
    out.keys.clear();
    out.value.clear();
    if line.first() == Some(&b'#') || line == b"\n" {
        return Ok(Kind::Skip);
    }
    let end = line
        .iter()
        .rposition(|&b| !matches!(b, b'\n' | b' ' | b'\t'))
        .map_or(0, |i| i + 1);
    let line = &line[..end];
    let bad = || BadLine(line.to_vec());
    let sep = (0..line.len()).find(|&i| {
        line[i] == b':'
            && (line[i + 1..].starts_with(b"deny") || line[i + 1..].starts_with(b"allow"))
    });
    let Some(colon) = sep else {
        return if line.contains(&b':') {
            Err(bad())
        } else {
            Ok(Kind::Skip)
        };
    };
    let address = &line[..colon];
    let mut rest = &line[colon + 1..];
    let value = &mut out.value;
    if let Some(r) = rest.strip_prefix(b"deny") {
        value.extend_from_slice(b"D\0");
        rest = r;
    } else if let Some(r) = rest.strip_prefix(b"allow") {
        rest = r;
    }
    while !rest.is_empty() {
        let Some(r) = rest.strip_prefix(b",") else {
            return Err(bad());
        };
        let eq = r.iter().position(|&b| b == b'=').ok_or_else(bad)?;
        let name = &r[..eq];
        let &q = r.get(eq + 1).ok_or_else(bad)?;
        let body = &r[eq + 2..];
        let close = body.iter().position(|&b| b == q).ok_or_else(bad)?;
        value.push(b'+');
        value.extend_from_slice(name);
        value.push(b'=');
        value.extend_from_slice(&body[..close]);
        value.push(0);
        rest = &body[close + 1..];
    }
    let plain = !address.contains(&b'=') && !address.contains(&b'@');
    if plain && address.contains(&b'/') {
        if let Some(parsed) = cidr(address, &mut out.keys) {
            return Ok(Kind::Rule(Some(parsed.ok_or_else(bad)?)));
        }
    }
    if !expand_into(address, &mut out.keys) {
        return Err(bad());
    }
    Ok(Kind::Rule(None))
}

/// Appends a CIDR rule's origin entry (`#LINE/L`) to its value.
pub fn add_origin(value: &mut Vec<u8>, line_no: u64, len: u8) {
    value.reserve(26);
    value.push(b'#');
    push_decimal(value, line_no);
    value.push(b'/');
    push_decimal(value, u64::from(len));
    value.push(0);
}

/// The line and the block of an origin entry found under `key`:
/// (`3`, `10.1.16.0/20`).
pub fn origin(key: &[u8], entry: &[u8]) -> Option<(String, String)> {
    let t = std::str::from_utf8(entry).ok()?;
    let (line, len) = t.split_once('/')?;
    let len: u32 = len.parse().ok()?;
    let block = if let Some(bits) = key.strip_prefix(b"^") {
        let mut o = [0u8; 16];
        for (i, &b) in bits.iter().enumerate().take(128) {
            if b == b'1' {
                o[i / 8] |= 0x80 >> (i % 8);
            }
        }
        format!("{}/{len}", std::net::Ipv6Addr::from(o))
    } else {
        let mut o = [0u8; 4];
        let text = std::str::from_utf8(key).ok()?;
        for (slot, p) in o.iter_mut().zip(text.split('.').filter(|p| !p.is_empty())) {
            *slot = p.parse().ok()?;
        }
        let mask = if len == 0 {
            0
        } else {
            u32::MAX << (32 - len.min(32))
        };
        format!(
            "{}/{len}",
            std::net::Ipv4Addr::from(u32::from_be_bytes(o) & mask)
        )
    };
    Some((line.to_string(), block))
}

/// An address with a `/`: `None` if it is not meant as a prefix (before
/// the `/`, no `.` or `:`, or something other than letters, digits, `.`
/// and `:`: stored literally, as by the original); `Some(None)` for a bad prefix (a length
/// out of range, host bits set, an address that does not parse);
/// `Some(Some(..))` with the keys added to `keys`.
#[allow(clippy::option_option)]
fn cidr(address: &[u8], keys: &mut Keys) -> Option<Option<Cidr>> {
    let slash = address.iter().position(|&b| b == b'/')?;
    let (ip, len) = (&address[..slash], &address[slash + 1..]);
    // One pass: only letters, digits, `.` and `:`, and one of the last two.
    let (mut dot, mut colon, mut other) = (false, false, false);
    for &b in ip {
        match b {
            b'.' => dot = true,
            b':' => colon = true,
            _ => other |= !b.is_ascii_alphanumeric(),
        }
    }
    if other || !(dot || colon) {
        return None;
    }
    let len = (!len.is_empty() && len.len() <= 3 && len.iter().all(u8::is_ascii_digit))
        .then(|| number(len))
        .flatten();
    if !colon {
        let Some(q) = strict_v4(ip) else {
            return Some(None);
        };
        let Some(len) = len.filter(|&l| l <= 32) else {
            return Some(None);
        };
        let bits = q.bits;
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        if bits & !mask != 0 {
            return Some(None);
        }
        if len % 8 == 0 && q.canonical {
            // The key is the text up to the n-th dot (`a.b.c.` for 24),
            // the whole address for 32, nothing for 0.
            let cut = match len / 8 {
                0 => 0,
                4 => ip.len(),
                n => q.dots[n as usize - 1] + 1,
            };
            keys.push_with(|k| k.extend_from_slice(&ip[..cut]));
        } else {
            v4_keys(bits, len as u32, keys);
        }
        return Some(Some(Cidr {
            len: len as u8,
            v6: false,
        }));
    }
    let text = std::str::from_utf8(ip).ok();
    let Some(a) = text.and_then(|t| t.parse::<std::net::Ipv6Addr>().ok()) else {
        return Some(None);
    };
    let Some(len) = len.filter(|&l| l <= 128) else {
        return Some(None);
    };
    let bits = u128::from(a);
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    };
    if bits & !mask != 0 {
        return Some(None);
    }
    keys.push_with(|k| push_v6_key(k, &a.octets(), len as usize));
    Some(Some(Cidr {
        len: len as u8,
        v6: true,
    }))
}

/// A dotted quad read by [`strict_v4`].
struct Quad {
    bits: u32,
    /// No octet written with a leading zero: the text is the address's
    /// own spelling.
    canonical: bool,
    /// Where the three dots are.
    dots: [usize; 3],
}

/// A dotted quad of four decimal numbers 0-255 (at most three digits
/// each), nothing else; one pass.
fn strict_v4(t: &[u8]) -> Option<Quad> {
    let mut q = Quad {
        bits: 0,
        canonical: true,
        dots: [0; 3],
    };
    let (mut octet, mut digits, mut ndots) = (0u32, 0usize, 0usize);
    for (i, &b) in t.iter().enumerate() {
        if b == b'.' {
            if digits == 0 || ndots == 3 {
                return None;
            }
            q.dots[ndots] = i;
            ndots += 1;
            q.bits = q.bits << 8 | octet;
            (octet, digits) = (0, 0);
        } else if b.is_ascii_digit() {
            if digits == 3 {
                return None;
            }
            if digits == 1 && octet == 0 {
                q.canonical = false;
            }
            octet = octet * 10 + u32::from(b - b'0');
            if octet > 255 {
                return None;
            }
            digits += 1;
        } else {
            return None;
        }
    }
    if digits == 0 || ndots != 3 {
        return None;
    }
    q.bits = q.bits << 8 | octet;
    Some(q)
}

/// Appends the decimal digits of `n`.
fn push_decimal(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(crate::args::fmt_ulong(n, &mut [0; 20]));
}

/// The original's keys for an IPv4 prefix: the length rounded up to a
/// whole octet, every value of the rounded-off bits; `a.b.c.` for 24,
/// `a.b.c.d` for 32, the empty key for 0.
fn v4_keys(bits: u32, len: u32, keys: &mut Keys) {
    let whole = len.div_ceil(8) * 8;
    let count = 1u32 << (whole - len);
    let step = if whole == 0 { 0 } else { 1u32 << (32 - whole) };
    let n = (whole / 8) as usize;
    for i in 0..count {
        let o = bits.wrapping_add(i.wrapping_mul(step)).to_be_bytes();
        keys.push_with(|k| {
            for (j, &b) in o[..n].iter().enumerate() {
                if j > 0 {
                    k.push(b'.');
                }
                push_decimal(k, u64::from(b));
            }
            if n > 0 && n < 4 {
                k.push(b'.');
            }
        });
    }
}

/// `^` and the first `len` bits of an IPv6 address as `0`/`1`.
pub fn v6_key(octets: &[u8; 16], len: usize) -> Vec<u8> {
    let mut k = Vec::with_capacity(len + 1);
    push_v6_key(&mut k, octets, len);
    k
}

fn push_v6_key(k: &mut Vec<u8>, octets: &[u8; 16], len: usize) {
    k.push(b'^');
    for i in 0..len {
        let bit = octets[i / 8] >> (7 - i % 8) & 1;
        k.push(b'0' + bit);
    }
}

fn number(s: &[u8]) -> Option<u64> {
    if s.iter().all(u8::is_ascii_digit) {
        Some(s.iter().fold(0u64, |v, &d| {
            v.wrapping_mul(10).wrapping_add(u64::from(d - b'0'))
        }))
    } else {
        None
    }
}

/// Expands the first `a-b` range of an address (not in names: addresses
/// with `=` or `@` are kept literally). `None` for a malformed range.
pub fn expand(address: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut keys = Keys::default();
    expand_into(address, &mut keys).then(|| keys.iter().map(<[u8]>::to_vec).collect())
}

/// [`expand`] into `keys`; false for a malformed range.
fn expand_into(address: &[u8], keys: &mut Keys) -> bool {
    let plain = !address.contains(&b'=') && !address.contains(&b'@');
    let Some(dash) = address.iter().position(|&b| b == b'-').filter(|_| plain) else {
        keys.push_with(|k| k.extend_from_slice(address));
        return true;
    };
    let left = address[..dash]
        .iter()
        .rposition(|&b| b == b'.')
        .map_or(0, |i| i + 1);
    let right = address[dash + 1..]
        .iter()
        .position(|&b| b == b'.')
        .map_or(address.len(), |i| dash + 1 + i);
    let (Some(bot), Some(top)) = (
        number(&address[left..dash]),
        number(&address[dash + 1..right]),
    ) else {
        return false;
    };
    for n in bot..=top.min(255) {
        keys.push_with(|k| {
            k.extend_from_slice(&address[..left]);
            push_decimal(k, n);
            k.extend_from_slice(&address[right..]);
        });
    }
    true
}

/// The keys tried for a connection, in order (spec/tcprules.md, "Rule
/// lookup"), the empty key last. For an IPv6 client (`v6`: its address and
/// the prefix lengths the database holds, longest first), the `^` keys of
/// those lengths come after the textual prefixes.
/// They go into `keys` (its earlier keys gone): one buffer for every key,
/// kept from lookup to lookup by a server's loop.
pub fn lookup_keys(
    keys: &mut Keys,
    ip: &[u8],
    host: Option<&[u8]>,
    info: Option<&[u8]>,
    v6: Option<(&[u8; 16], &[u8])>,
) {
    keys.clear();
    if let Some(info) = info {
        keys.push(&[info, b"@", ip]);
        if let Some(host) = host {
            keys.push(&[info, b"@=", host]);
        }
    }
    keys.push(&[ip]);
    if let Some(host) = host {
        keys.push(&[b"=", host]);
    }
    for k in (1..=ip.len()).rev() {
        if matches!(ip[k - 1], b'.' | b':') {
            keys.push(&[&ip[..k]]);
        }
    }
    if let Some((octets, lengths)) = v6 {
        for &l in lengths {
            keys.push(&[&v6_key(octets, usize::from(l))]);
        }
    }
    if let Some(host) = host {
        for (i, &b) in host.iter().enumerate() {
            if b == b'.' {
                keys.push(&[b"=", &host[i..]]);
            }
        }
        keys.push(&[b"="]);
    }
    keys.push(&[]);
}

/// A rule found: the key that matched and its value.
pub type Found = (Vec<u8>, Vec<u8>);

/// The first rule that applies; `None` is the default allow (the keys
/// tried are [`lookup_keys`]').
pub fn lookup<S: Source>(
    db: &Reader<S>,
    ip: &[u8],
    host: Option<&[u8]>,
    info: Option<&[u8]>,
) -> Result<Option<Found>, Error> {
    let mut buf = LookupBuf::default();
    let found = lookup_with(db, ip, host, info, &mut buf)?;
    Ok(found.map(|(k, v)| (k.to_vec(), v.to_vec())))
}

/// What [`lookup_with`] fills: the keys it tries and the value it finds,
/// kept from lookup to lookup by a server's loop (tcpserver's parent makes
/// a lookup per connection and then forks: every heap page it writes after
/// a fork is a fault, and each allocation and free writes two).
#[derive(Debug, Default)]
pub struct LookupBuf {
    keys: Keys,
    value: Vec<u8>,
    lengths: Vec<u8>,
}

impl LookupBuf {
    /// Room for the keys of a usual lookup and a value of `value` bytes,
    /// taken now, side by side.
    pub fn with_capacity(value: usize) -> LookupBuf {
        LookupBuf {
            keys: Keys {
                bytes: Vec::with_capacity(256),
                ends: Vec::with_capacity(16),
            },
            value: Vec::with_capacity(value),
            lengths: Vec::new(),
        }
    }
}

/// A rule found by [`lookup_with`]: the key that matched and its value,
/// borrowed from the [`LookupBuf`].
pub type FoundIn<'b> = (&'b [u8], &'b [u8]);

/// [`lookup`] into `buf`.
pub fn lookup_with<'b, S: Source>(
    db: &Reader<S>,
    ip: &[u8],
    host: Option<&[u8]>,
    info: Option<&[u8]>,
    buf: &'b mut LookupBuf,
) -> Result<Option<FoundIn<'b>>, Error> {
    // IPv6 prefixes: only the lengths the database lists, and none when it
    // lists none (one lookup more for an IPv6 client, none for IPv4).
    let v6 = std::str::from_utf8(ip)
        .ok()
        .filter(|t| t.contains(':'))
        .and_then(|t| t.parse::<std::net::Ipv6Addr>().ok())
        .map(|a| a.octets());
    let LookupBuf {
        keys,
        value,
        lengths,
    } = buf;
    lengths.clear();
    if v6.is_some() && db.get_into(V6_LENGTHS_KEY, value)? {
        parse_lengths(value, lengths);
    }
    let v6 = v6.as_ref().map(|o| (o, lengths.as_slice()));
    lookup_keys(keys, ip, host, info, v6);
    for k in keys.iter() {
        if db.get_into(k, value)? {
            return Ok(Some((k, value.as_slice())));
        }
    }
    Ok(None)
}

/// The lengths of a [`V6_LENGTHS_KEY`] record (`48,64,128`), longest
/// first, into `l` (its earlier contents gone); anything else in it is
/// ignored.
pub fn parse_lengths(v: &[u8], l: &mut Vec<u8>) {
    l.clear();
    l.extend(
        v.split(|&b| b == b',')
            .filter_map(|p| std::str::from_utf8(p).ok()?.parse::<u8>().ok())
            .filter(|&n| n <= 128),
    );
    l.sort_unstable_by(|a, b| b.cmp(a));
    l.dedup();
}

/// The record listing `lengths` (any order).
pub fn lengths_value(lengths: &[u8]) -> Vec<u8> {
    let mut l = lengths.to_vec();
    l.sort_unstable_by(|a, b| b.cmp(a));
    l.dedup();
    l.iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(",")
        .into_bytes()
}

/// One entry of a rule's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry<'a> {
    Deny,
    /// `#LINE/L`: the CIDR line a key came from ([`origin`]).
    Origin(&'a [u8]),
    /// `+NAME=VALUE`, with the text after `+`.
    Set {
        text: &'a [u8],
        name: &'a [u8],
        value: &'a [u8],
    },
    /// `+TEXT` without `=`: the servers ignore it, tcprulescheck shows it
    /// as the original does (`set environment variable TEXT`).
    NoValue(&'a [u8]),
}

/// The NUL-terminated entries of a value: `D...` is deny, `+NAME=VALUE` a
/// variable (`+TEXT` without `=` is [`Entry::NoValue`]), anything else and
/// a trailing unterminated piece are ignored.
/// Read as they are needed, not collected: a server's loop reads them per
/// connection.
pub fn entries(value: &[u8]) -> impl Iterator<Item = Entry<'_>> {
    value
        .split_inclusive(|&b| b == 0)
        .filter_map(|e| e.strip_suffix(&[0]))
        .filter_map(|e| match e.first() {
            Some(b'D') => Some(Entry::Deny),
            Some(b'#') => Some(Entry::Origin(&e[1..])),
            Some(b'+') => {
                let text = &e[1..];
                Some(match text.iter().position(|&b| b == b'=') {
                    Some(eq) => Entry::Set {
                        text,
                        name: &text[..eq],
                        value: &text[eq + 1..],
                    },
                    None => Entry::NoValue(text),
                })
            }
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(l: &str) -> (Vec<String>, Vec<u8>) {
        match parse_line(l.as_bytes()).unwrap() {
            Line::Rule { keys, value, .. } => (
                keys.into_iter()
                    .map(|k| String::from_utf8(k).unwrap())
                    .collect(),
                value,
            ),
            Line::Skip => panic!("skipped {l}"),
        }
    }

    #[test]
    fn spec_encodings() {
        assert_eq!(
            rule("joe@127.0.0.1:allow"),
            (vec!["joe@127.0.0.1".into()], vec![])
        );
        assert_eq!(
            rule("18.23.0.32:deny\n"),
            (vec!["18.23.0.32".into()], b"D\0".to_vec())
        );
        assert_eq!(
            rule("=host.example.com:allow,RELAYCLIENT=\"\",TCPLOCALHOST=\"movie.edu\"").1,
            b"+RELAYCLIENT=\0+TCPLOCALHOST=movie.edu\0".to_vec()
        );
        assert_eq!(
            rule("=.example.com:allow,X=/a\"b/").1,
            b"+X=a\"b\0".to_vec()
        );
        assert_eq!(rule("bill@=foo.bar:deny,Y='q'").1, b"D\0+Y=q\0".to_vec());
        assert_eq!(rule("1.2.3.4:allow,X=aba").1, b"+X=b\0".to_vec());
        assert_eq!(rule("1.2.3.4:allow,=\"\"").1, b"+=\0".to_vec());
        assert_eq!(rule(":deny"), (vec!["".into()], b"D\0".to_vec()));
        assert_eq!(rule("::1:allow").0, vec!["::1"]);
        assert_eq!(rule("2001:db8::allow").0, vec!["2001:db8:"]);
        assert_eq!(rule("1.2.3.4:bogus:allow").0, vec!["1.2.3.4:bogus"]);
        assert_eq!(rule(" 1.2.3.4:allow \t").0, vec![" 1.2.3.4"]);
    }

    #[test]
    fn skips_and_bad_lines() {
        for l in ["# comment", "\n", "no colon here", "   ", ""] {
            assert_eq!(parse_line(l.as_bytes()), Ok(Line::Skip), "{l:?}");
        }
        for l in [
            "1.2.3.4:denied",
            "1.2.3.4:allow ,X=\"\"",
            "1.2.3.4:allow,X",
            "1.2.3.4:allow,X=",
            "1.2.3.4:allow,X=\"a",
            "1-2-3:allow",
            "a-b:deny",
            "1.2.3.4: allow",
        ] {
            assert!(parse_line(l.as_bytes()).is_err(), "{l:?}");
        }
        assert_eq!(parse_line(b"x:y  \n"), Err(BadLine(b"x:y".to_vec())));
    }

    #[test]
    fn ranges() {
        let keys = |a: &str| -> Vec<String> {
            expand(a.as_bytes())
                .unwrap()
                .into_iter()
                .map(|k| String::from_utf8(k).unwrap())
                .collect()
        };
        assert_eq!(
            keys("1.2.3.37-40"),
            ["1.2.3.37", "1.2.3.38", "1.2.3.39", "1.2.3.40"]
        );
        assert_eq!(keys("10.2-3."), ["10.2.", "10.3."]);
        assert_eq!(keys("1.2.3.-2"), ["1.2.3.0", "1.2.3.1", "1.2.3.2"]);
        assert_eq!(keys("-"), ["0"]);
        assert!(keys("1.2.3.300-400").is_empty());
        assert!(keys("1.2.3.5-3").is_empty());
        assert_eq!(keys("1.2.3.4-5.6-7"), ["1.2.3.4.6-7", "1.2.3.5.6-7"]);
        assert_eq!(keys("=a-b"), ["=a-b"]);
        assert_eq!(keys("x@1-2"), ["x@1-2"]);
        assert!(expand(b"1-2-3").is_none());
    }

    #[test]
    fn lookups_with_one_buffer_find_each_its_own_rule() {
        let mut w = crate::cdb::Writer::new(std::io::Cursor::new(Vec::new())).unwrap();
        for (k, v) in [
            (V6_LENGTHS_KEY, &b"1"[..]),
            (b"^1", b"+V6=\"first half\""),
            (b"1.2.3.4", b"+LONG=\"a value longer than the others\""),
            (b"=h.example", b"+HOST=\"h\""),
            (b"", b"+D=\"x\""),
        ] {
            w.add(k, v).unwrap();
        }
        let db = Reader::new(w.finish().unwrap().into_inner());
        let mut buf = LookupBuf::with_capacity(4);
        let mut find = |ip: &str, host: Option<&str>| {
            let found = lookup_with(&db, ip.as_bytes(), host.map(str::as_bytes), None, &mut buf);
            let (k, v) = found.unwrap().unwrap();
            let owned = (k.to_vec(), v.to_vec());
            assert_eq!(
                Some(owned.clone()),
                lookup(&db, ip.as_bytes(), host.map(str::as_bytes), None).unwrap()
            );
            (
                String::from_utf8(owned.0).unwrap(),
                String::from_utf8(owned.1).unwrap(),
            )
        };
        let found = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(find("8000::1", None), found("^1", "+V6=\"first half\""));
        assert_eq!(
            find("1.2.3.4", None),
            found("1.2.3.4", "+LONG=\"a value longer than the others\"")
        );
        assert_eq!(
            find("5.6.7.8", Some("h.example")),
            found("=h.example", "+HOST=\"h\"")
        );
        assert_eq!(find("5.6.7.8", None), found("", "+D=\"x\""));
        // An IPv6 client in the other half: no ^ key of its own.
        assert_eq!(find("::1", None), found("", "+D=\"x\""));
    }

    #[test]
    fn lookup_order() {
        // One buffer for every lookup: each gets only its own keys.
        let mut k = Keys::default();
        let mut keys = |ip: &[u8], host, info, v6| {
            lookup_keys(&mut k, ip, host, info, v6);
            k.iter()
                .map(|k| String::from_utf8(k.to_vec()).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            keys(b"1.2.3.4", Some(b"a.b.example.com"), Some(b"joe"), None),
            [
                "joe@1.2.3.4",
                "joe@=a.b.example.com",
                "1.2.3.4",
                "=a.b.example.com",
                "1.2.3.",
                "1.2.",
                "1.",
                "=.b.example.com",
                "=.example.com",
                "=.com",
                "=",
                ""
            ]
        );
        assert_eq!(
            keys(b"2001:db8::2", None, None, None),
            ["2001:db8::2", "2001:db8::", "2001:db8:", "2001:", ""]
        );
        // The ^ keys of the lengths the database holds come after the
        // textual prefixes and before the names.
        let a: std::net::Ipv6Addr = "8000::1".parse().unwrap();
        assert_eq!(
            keys(b"8000::1", Some(b"h.x"), None, Some((&a.octets(), &[3, 1]))),
            ["8000::1", "=h.x", "8000::", "8000:", "^100", "^1", "=.x", "=", ""]
        );
    }

    fn cidr_rule(l: &str) -> (Vec<String>, Cidr) {
        match parse_line(l.as_bytes()).unwrap() {
            Line::Rule {
                keys,
                cidr: Some(c),
                ..
            } => (
                keys.into_iter()
                    .map(|k| String::from_utf8(k).unwrap())
                    .collect(),
                c,
            ),
            other => panic!("{l}: {other:?}"),
        }
    }

    #[test]
    fn ipv4_cidr_keys() {
        let keys = |l: &str| cidr_rule(l).0;
        assert_eq!(keys("10.0.0.0/8:allow"), ["10."]);
        assert_eq!(keys("10.0.0.0/16:allow"), ["10.0."]);
        assert_eq!(keys("10.1.2.0/24:deny"), ["10.1.2."]);
        assert_eq!(keys("10.1.2.3/32:deny"), ["10.1.2.3"]);
        assert_eq!(keys("0.0.0.0/0:deny"), [""]);
        let k = keys("10.1.16.0/20:deny");
        assert_eq!(k.len(), 16);
        assert_eq!((k[0].as_str(), k[15].as_str()), ("10.1.16.", "10.1.31."));
        let k = keys("172.16.0.0/12:allow");
        assert_eq!(k.len(), 16);
        assert_eq!((k[0].as_str(), k[15].as_str()), ("172.16.", "172.31."));
        let k = keys("192.168.1.32/27:allow");
        assert_eq!(k.len(), 32);
        assert_eq!(
            (k[0].as_str(), k[31].as_str()),
            ("192.168.1.32", "192.168.1.63")
        );
        let k = keys("128.0.0.0/1:allow");
        assert_eq!(
            (k.len(), k[0].as_str(), k[127].as_str()),
            (128, "128.", "255.")
        );
        assert_eq!(cidr_rule("10.0.0.0/8:allow").1, Cidr { len: 8, v6: false });
        // Leading zeros: the keys are the addresses tcpserver looks up,
        // whatever the spelling (the text is copied only when canonical).
        assert_eq!(keys("010.001.0.0/16:allow"), ["10.1."]);
        assert_eq!(keys("10.1.2.003/32:allow"), ["10.1.2.3"]);
        assert_eq!(keys("10.0.0.0/24:allow"), ["10.0.0."]);
        assert_eq!(keys("0.0.0.0/8:allow"), ["0."]);
    }

    #[test]
    fn ipv6_cidr_keys() {
        let (k, c) = cidr_rule("2001:db8::/32:deny");
        assert_eq!(c, Cidr { len: 32, v6: true });
        assert_eq!(k, ["^00100000000000010000110110111000"]);
        let (k, _) = cidr_rule("::1/128:allow");
        assert_eq!(k[0].len(), 129);
        assert!(k[0].ends_with("01"));
        assert_eq!(cidr_rule("::/0:allow").0, ["^"]);
    }

    #[test]
    fn bad_prefixes_are_bad_lines_and_names_stay_literal() {
        for l in [
            "10.1.2.0/33:allow",
            "10.1.2.1/24:allow",
            "10.1.2.0/:allow",
            "10.1.2.0/x:allow",
            "10.1.2/24:allow",
            "10.1.2.300/32:allow",
            "10.1.2.0/-1:allow",
            "10.1.2.0/0024:allow",
            "2001:db8::1/64:deny",
            "2001:db8::/129:deny",
            "2001:zz8::/32:deny",
            "1.2.3.4/32/1:allow",
            "1.2.3.4.5/32:allow",
            "1..3.4/32:allow",
            ".1.2.3/32:allow",
            "1.2.3./32:allow",
            "1.2.3.0001/32:allow",
            "1.2.3.256/32:allow",
            "a.2.3.4/32:allow",
        ] {
            assert!(parse_line(l.as_bytes()).is_err(), "{l}");
        }
        // Not an address before the slash: a literal key, as in the original.
        assert_eq!(rule("=host/x:allow").0, ["=host/x"]);
        assert_eq!(rule("joe@1.2.3.0/24:allow").0, ["joe@1.2.3.0/24"]);
        assert_eq!(rule("web/1:allow").0, ["web/1"]);
    }

    #[test]
    fn origins_name_the_block() {
        let o = |k: &str, e: &str| origin(k.as_bytes(), e.as_bytes()).unwrap();
        assert_eq!(o("10.1.17.", "4/20"), ("4".into(), "10.1.16.0/20".into()));
        assert_eq!(
            o("192.168.1.40", "9/27"),
            ("9".into(), "192.168.1.32/27".into())
        );
        assert_eq!(o("", "1/0"), ("1".into(), "0.0.0.0/0".into()));
        let k = v6_key(
            &"2001:db8::".parse::<std::net::Ipv6Addr>().unwrap().octets(),
            48,
        );
        assert_eq!(
            origin(&k, b"2/48").unwrap(),
            ("2".into(), "2001:db8::/48".into())
        );
        let mut v = Vec::new();
        add_origin(&mut v, 12, 20);
        assert_eq!(v, b"#12/20\0");
    }

    #[test]
    fn specificity_orders_records_of_one_key() {
        assert_eq!(specificity(b"10.1.20.", None), 24);
        assert_eq!(specificity(b"10.1.20.4", None), 32);
        assert_eq!(specificity(b"=x", None), 255);
        // `:` is as specific as `0.0.0.0/0`: the earlier of the two wins.
        assert_eq!(specificity(b"", None), 0);
        assert_eq!(specificity(b"", Some(Cidr { len: 0, v6: false })), 0);
        assert_eq!(
            specificity(b"10.1.20.", Some(Cidr { len: 22, v6: false })),
            22
        );
        assert_eq!(lengths_value(&[64, 128, 48, 64]), b"128,64,48");
        let mut l = vec![7];
        parse_lengths(b"48,x,128,200,64", &mut l);
        assert_eq!(l, [128, 64, 48]);
    }

    #[test]
    fn value_entries() {
        let v = b"D\0+A=1\0+B\0xjunk\0+C=x=y\0#3/8\0+D=tail";
        assert_eq!(
            entries(v).collect::<Vec<_>>(),
            vec![
                Entry::Deny,
                Entry::Set {
                    text: b"A=1",
                    name: b"A",
                    value: b"1"
                },
                Entry::NoValue(b"B"),
                Entry::Set {
                    text: b"C=x=y",
                    name: b"C",
                    value: b"x=y"
                },
                Entry::Origin(b"3/8"),
            ]
        );
    }
}

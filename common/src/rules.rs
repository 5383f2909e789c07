//! tcpserver's rules: the tcprules line grammar, address ranges, the CDB
//! value encoding, and the lookup order (spec/tcprules.md).
//!
//! One grammar for IPv4 and IPv6 rules: the address ends at the first `:`
//! that is immediately followed by `deny` or `allow` (the IPv6 build's
//! rule, so `::1:allow` works). For every line the IPv4 build accepts this
//! is its first colon, so IPv4 rules compile to the same bytes. A line with
//! no such separator is skipped if it has no colon at all and is a bad line
//! otherwise (where the IPv6 build loops forever).

use crate::cdb::{Error, Reader, Source};

/// A parsed rules line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// Comment, blank, or no colon: nothing to store.
    Skip,
    /// Keys (after range expansion) and the value they all get.
    Rule { keys: Vec<Vec<u8>>, value: Vec<u8> },
}

/// The line cannot be parsed; the payload is the line as reported
/// (trailing whitespace removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine(pub Vec<u8>);

/// Parses one input line (with or without its `\n`).
pub fn parse_line(line: &[u8]) -> Result<Line, BadLine> {
    if line.first() == Some(&b'#') || line == b"\n" {
        return Ok(Line::Skip);
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
            Ok(Line::Skip)
        };
    };
    let address = &line[..colon];
    let mut rest = &line[colon + 1..];
    let mut value = Vec::new();
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
    Ok(Line::Rule {
        keys: expand(address).ok_or_else(bad)?,
        value,
    })
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
    let plain = !address.contains(&b'=') && !address.contains(&b'@');
    let Some(dash) = address.iter().position(|&b| b == b'-').filter(|_| plain) else {
        return Some(vec![address.to_vec()]);
    };
    let left = address[..dash]
        .iter()
        .rposition(|&b| b == b'.')
        .map_or(0, |i| i + 1);
    let right = address[dash + 1..]
        .iter()
        .position(|&b| b == b'.')
        .map_or(address.len(), |i| dash + 1 + i);
    let bot = number(&address[left..dash])?;
    let top = number(&address[dash + 1..right])?.min(255);
    let mut keys = Vec::new();
    let mut n = bot;
    while n <= top {
        let mut k = address[..left].to_vec();
        k.extend_from_slice(n.to_string().as_bytes());
        k.extend_from_slice(&address[right..]);
        keys.push(k);
        n += 1;
    }
    Some(keys)
}

/// The keys tried for a connection, in order (spec/tcprules.md, "Rule
/// lookup"), the empty key last.
pub fn lookup_keys(ip: &[u8], host: Option<&[u8]>, info: Option<&[u8]>) -> Vec<Vec<u8>> {
    let cat = |parts: &[&[u8]]| parts.concat();
    let mut keys = Vec::new();
    if let Some(info) = info {
        keys.push(cat(&[info, b"@", ip]));
        if let Some(host) = host {
            keys.push(cat(&[info, b"@=", host]));
        }
    }
    keys.push(ip.to_vec());
    if let Some(host) = host {
        keys.push(cat(&[b"=", host]));
    }
    for k in (1..=ip.len()).rev() {
        if matches!(ip[k - 1], b'.' | b':') {
            keys.push(ip[..k].to_vec());
        }
    }
    if let Some(host) = host {
        for (i, &b) in host.iter().enumerate() {
            if b == b'.' {
                keys.push(cat(&[b"=", &host[i..]]));
            }
        }
        keys.push(b"=".to_vec());
    }
    keys.push(Vec::new());
    keys
}

/// A rule found: the key that matched and its value.
pub type Found = (Vec<u8>, Vec<u8>);

/// The first rule that applies; `None` is the default allow.
pub fn lookup<S: Source>(
    db: &Reader<S>,
    ip: &[u8],
    host: Option<&[u8]>,
    info: Option<&[u8]>,
) -> Result<Option<Found>, Error> {
    for k in lookup_keys(ip, host, info) {
        if let Some(v) = db.get(&k)? {
            return Ok(Some((k, v)));
        }
    }
    Ok(None)
}

/// One entry of a rule's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry<'a> {
    Deny,
    /// `+NAME=VALUE`, with the text after `+`.
    Set {
        text: &'a [u8],
        name: &'a [u8],
        value: &'a [u8],
    },
}

/// The NUL-terminated entries of a value: `D...` is deny, `+NAME=VALUE` a
/// variable (one without `=` is ignored), anything else and a trailing
/// unterminated piece are ignored.
pub fn entries(value: &[u8]) -> Vec<Entry<'_>> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(nul) = rest.iter().position(|&b| b == 0) {
        let e = &rest[..nul];
        rest = &rest[nul + 1..];
        match e.first() {
            Some(b'D') => out.push(Entry::Deny),
            Some(b'+') => {
                let text = &e[1..];
                if let Some(eq) = text.iter().position(|&b| b == b'=') {
                    out.push(Entry::Set {
                        text,
                        name: &text[..eq],
                        value: &text[eq + 1..],
                    });
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(l: &str) -> (Vec<String>, Vec<u8>) {
        match parse_line(l.as_bytes()).unwrap() {
            Line::Rule { keys, value } => (
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
    fn lookup_order() {
        let k = lookup_keys(b"1.2.3.4", Some(b"a.b.example.com"), Some(b"joe"));
        let k: Vec<String> = k
            .into_iter()
            .map(|k| String::from_utf8(k).unwrap())
            .collect();
        assert_eq!(
            k,
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
        let k = lookup_keys(b"2001:db8::2", None, None);
        let k: Vec<String> = k
            .into_iter()
            .map(|k| String::from_utf8(k).unwrap())
            .collect();
        assert_eq!(k, ["2001:db8::2", "2001:db8::", "2001:db8:", "2001:", ""]);
    }

    #[test]
    fn value_entries() {
        let v = b"D\0+A=1\0+B\0xjunk\0+C=x=y\0+D=tail";
        assert_eq!(
            entries(v),
            vec![
                Entry::Deny,
                Entry::Set {
                    text: b"A=1",
                    name: b"A",
                    value: b"1"
                },
                Entry::Set {
                    text: b"C=x=y",
                    name: b"C",
                    value: b"x=y"
                },
            ]
        );
    }
}

//! `tai64nlocal`: turn a leading `@<tai64n>` label into local time
//! `YYYY-MM-DD HH:MM:SS.NNNNNNNNN` (honouring TZ).
//!
//! Only lowercase hex digits are part of a label, as in the original. One
//! divergence (docs/divergences.md): where the original crashes (a label
//! that localtime cannot convert, e.g. `@` alone, uppercase hex, too few or
//! too many digits), the line is copied unchanged.
//! Exit codes: 0 at end of input, 111 silently on a read or write error.

use std::io::{ErrorKind, Read, Write};

use common::sys;
use common::tai::UNIX_EPOCH_LABEL;

use crate::find_newline;

const BLOCK: usize = 128 * 1024;

/// Converts one line (without its newline); `None` to copy it unchanged.
pub fn convert(line: &[u8], out: &mut Vec<u8>, cache: &mut Cache) -> bool {
    if line.first() != Some(&b'@') {
        return false;
    }
    let digits = line[1..]
        .iter()
        .take_while(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        .count();
    // The number: last 8 digits nanoseconds, the rest seconds (mod 2^64).
    let hex = &line[1..1 + digits];
    let val = |h: &[u8]| {
        h.iter().fold(0u64, |acc, &c| {
            let d = if c <= b'9' { c - b'0' } else { c - b'a' + 10 };
            acc.wrapping_shl(4) | u64::from(d)
        })
    };
    let (secs, nanos) = if digits >= 8 {
        (val(&hex[..digits - 8]), val(&hex[digits - 8..]))
    } else {
        (0, val(hex))
    };
    let unix = secs.wrapping_sub(UNIX_EPOCH_LABEL) as i64;
    let Some(t) = cache.localtime(unix) else {
        return false;
    };
    // The original prints the int 1900 + tm_year as an unsigned long: a
    // year before 0 comes out as 2^64 plus the year (and the int wraps in
    // the last 1900 years that tm_year holds).
    let year = i64::from(1900i32.wrapping_add(t.year as i32)) as u64;
    out.extend_from_slice(
        format!(
            "{}-{:02}-{:02} {:02}:{:02}:{:02}.{:09}",
            year,
            t.mon + 1,
            t.mday,
            t.hour,
            t.min,
            t.sec,
            nanos
        )
        .as_bytes(),
    );
    out.extend_from_slice(&line[1 + digits..]);
    true
}

/// Remembers the last conversion: log lines come in runs within a second.
#[derive(Default)]
pub struct Cache {
    last: Option<(i64, Option<sys::LocalTime>)>,
}

impl Cache {
    fn localtime(&mut self, t: i64) -> Option<sys::LocalTime> {
        if let Some((lt, r)) = self.last {
            if lt == t {
                return r;
            }
        }
        let r = sys::localtime(t);
        self.last = Some((t, r));
        r
    }
}

pub fn main() -> i32 {
    common::sys::sigpipe_default();
    let mut input = std::io::stdin().lock();
    let mut out = std::io::stdout().lock();
    let mut buf = vec![0u8; BLOCK];
    let mut carry: Vec<u8> = Vec::new();
    let mut obuf: Vec<u8> = Vec::with_capacity(BLOCK * 2);
    let mut cache = Cache::default();
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return 111,
        };
        carry.extend_from_slice(&buf[..n]);
        let mut start = 0;
        while let Some(p) = find_newline(&carry[start..]) {
            let line = &carry[start..start + p];
            if !convert(line, &mut obuf, &mut cache) {
                obuf.extend_from_slice(line);
            }
            obuf.push(b'\n');
            start += p + 1;
        }
        carry.drain(..start);
        if out.write_all(&obuf).is_err() {
            return 111;
        }
        obuf.clear();
    }
    // A final line without newline.
    if !carry.is_empty() {
        let digits = carry[1.min(carry.len())..]
            .iter()
            .take_while(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            .count();
        let only_label = carry[0] == b'@' && 1 + digits == carry.len();
        // The original stops at end of input inside a label, writing nothing.
        if !only_label && !convert(&carry, &mut obuf, &mut cache) {
            obuf.extend_from_slice(&carry);
        }
        if out.write_all(&obuf).is_err() {
            return 111;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_in_utc() {
        std::env::set_var("TZ", "UTC");
        let mut c = Cache::default();
        let conv = |l: &str, c: &mut Cache| {
            let mut v = Vec::new();
            if convert(l.as_bytes(), &mut v, c) {
                String::from_utf8(v).unwrap()
            } else {
                l.to_string()
            }
        };
        assert_eq!(
            conv("@4000000037c219bf2ef02e94 mark", &mut c),
            "1999-08-24 04:04:05.787492500 mark"
        );
        assert_eq!(
            conv("@400000000000000a00000000 epoch", &mut c),
            "1970-01-01 00:00:00.000000000 epoch"
        );
        assert_eq!(
            conv("@3fffffffffffffff00000000 before", &mut c),
            "1969-12-31 23:59:49.000000000 before"
        );
        assert_eq!(
            conv("@4000000037c219bf2ef02e94:colon", &mut c),
            "1999-08-24 04:04:05.787492500:colon"
        );
        assert_eq!(
            conv("@4000000037c219bfffffffff big", &mut c),
            "1999-08-24 04:04:05.4294967295 big"
        );
        assert_eq!(conv("no at", &mut c), "no at");
        assert_eq!(
            conv("x@4000000037c219bf2ef02e94 mid", &mut c),
            "x@4000000037c219bf2ef02e94 mid"
        );
        // A year before 0, printed unsigned as the original does.
        assert_eq!(
            conv("@3f85838cf8047ef711210c80 x", &mut c),
            "18446744072617027899-03-31 06:00:13.287378560 x"
        );
        // ... and the int 1900 + tm_year wrapped, as in the original.
        assert_eq!(
            conv("@40f0c2a77594199a00000005 x", &mut c),
            "18446744071562069319-12-31 18:36:00.000000005 x"
        );
        // Where the original crashes: copied unchanged.
        for l in [
            "@",
            "@x",
            "@4000000037C219BF2EF02E94 upper",
            "@4000000037c219bf mark",
        ] {
            assert_eq!(conv(l, &mut c), l);
        }
    }
}

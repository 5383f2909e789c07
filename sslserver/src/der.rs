//! The little of X.509 that sslserver reads itself: a certificate's
//! validity (checked at start, which rustls leaves to the peer) and its
//! subject, written as OpenSSL's one-line form (`/C=DE/O=Org/CN=name`) for
//! `SSL_CLIENT_S_DN`. Anything malformed is `None`, never a panic.

/// One DER element: its tag and contents.
struct Tlv<'a> {
    tag: u8,
    body: &'a [u8],
}

/// Reads one element from the front of `input`; the rest follows it.
fn tlv(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |a, &b| (a << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((
        Tlv {
            tag,
            body: &rest[..len],
        },
        &rest[len..],
    ))
}

/// Every element of a constructed body, in order.
fn items(mut body: &[u8]) -> Option<Vec<Tlv<'_>>> {
    let mut v = Vec::new();
    while !body.is_empty() {
        let (t, rest) = tlv(body)?;
        v.push(t);
        body = rest;
    }
    Some(v)
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// The fields of TBSCertificate up to and including the subject.
struct Tbs<'a> {
    validity: Tlv<'a>,
    subject: Tlv<'a>,
}

fn tbs(cert: &[u8]) -> Option<Tbs<'_>> {
    let (c, _) = tlv(cert)?;
    if c.tag != SEQUENCE {
        return None;
    }
    let (t, _) = tlv(c.body)?;
    if t.tag != SEQUENCE {
        return None;
    }
    let mut f = items(t.body)?.into_iter().peekable();
    // [0] EXPLICIT version, when present.
    if f.peek().is_some_and(|x| x.tag == 0xa0) {
        f.next();
    }
    let _serial = f.next()?;
    let _signature = f.next()?;
    let _issuer = f.next()?;
    let validity = f.next()?;
    let subject = f.next()?;
    (validity.tag == SEQUENCE && subject.tag == SEQUENCE).then_some(Tbs { validity, subject })
}

/// `notBefore` and `notAfter`, in seconds since the epoch.
pub fn validity(cert: &[u8]) -> Option<(i64, i64)> {
    let t = tbs(cert)?;
    let v = items(t.validity.body)?;
    if v.len() != 2 {
        return None;
    }
    Some((time(&v[0])?, time(&v[1])?))
}

/// A UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`).
fn time(t: &Tlv) -> Option<i64> {
    let s = t.body;
    let (year, rest) = match t.tag {
        UTC_TIME if s.len() == 13 => {
            let y = digits(&s[..2])?;
            (if y < 50 { 2000 + y } else { 1900 + y }, &s[2..])
        }
        GENERALIZED_TIME if s.len() == 15 => (digits(&s[..4])?, &s[4..]),
        _ => return None,
    };
    if rest[10] != b'Z' {
        return None;
    }
    let f = |i: usize| digits(&rest[i..i + 2]);
    let (mon, day, h, m, sec) = (f(0)?, f(2)?, f(4)?, f(6)?, f(8)?);
    if !(1..=12).contains(&mon) || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some(days_from_civil(year, mon, day) * 86400 + h * 3600 + m * 60 + sec)
}

fn digits(s: &[u8]) -> Option<i64> {
    s.iter().try_fold(0i64, |a, &c| {
        c.is_ascii_digit().then(|| a * 10 + i64::from(c - b'0'))
    })
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of seconds since the epoch.
pub fn utc_text(t: i64) -> String {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    // civil_from_days
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// The subject in OpenSSL's one-line form: `/TYPE=value` per attribute,
/// short names for the usual types, the dotted OID otherwise; bytes outside
/// printable ASCII as `\xHH`.
pub fn subject_oneline(cert: &[u8]) -> Option<String> {
    let t = tbs(cert)?;
    let mut out = String::new();
    for rdn in items(t.subject.body)? {
        if rdn.tag != SET {
            return None;
        }
        for atv in items(rdn.body)? {
            let pair = items(atv.body)?;
            if atv.tag != SEQUENCE || pair.len() != 2 || pair[0].tag != OID {
                return None;
            }
            out.push('/');
            out.push_str(&oid_name(pair[0].body)?);
            out.push('=');
            for &b in pair[1].body {
                if (0x20..0x7f).contains(&b) {
                    out.push(char::from(b));
                } else {
                    out.push_str(&format!("\\x{b:02X}"));
                }
            }
        }
    }
    Some(out)
}

/// OpenSSL's short name of an attribute type, or its dotted form.
fn oid_name(oid: &[u8]) -> Option<String> {
    let known: &[(&[u8], &str)] = &[
        (&[0x55, 0x04, 0x03], "CN"),
        (&[0x55, 0x04, 0x04], "SN"),
        (&[0x55, 0x04, 0x05], "serialNumber"),
        (&[0x55, 0x04, 0x06], "C"),
        (&[0x55, 0x04, 0x07], "L"),
        (&[0x55, 0x04, 0x08], "ST"),
        (&[0x55, 0x04, 0x09], "street"),
        (&[0x55, 0x04, 0x0a], "O"),
        (&[0x55, 0x04, 0x0b], "OU"),
        (&[0x55, 0x04, 0x0c], "title"),
        (&[0x55, 0x04, 0x2a], "GN"),
        (
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01],
            "emailAddress",
        ),
        (
            &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19],
            "DC",
        ),
        (
            &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01],
            "UID",
        ),
    ];
    if let Some((_, n)) = known.iter().find(|(k, _)| *k == oid) {
        return Some((*n).to_string());
    }
    let (&first, rest) = oid.split_first()?;
    let mut parts = vec![u64::from(first / 40), u64::from(first % 40)];
    let mut acc = 0u64;
    for &b in rest {
        acc = acc.checked_mul(128)? | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            parts.push(acc);
            acc = 0;
        }
    }
    Some(
        parts
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11017);
        assert_eq!(utc_text(0), "1970-01-01 00:00:00");
        assert_eq!(utc_text(951782400 + 3661), "2000-02-29 01:01:01");
        for t in [0i64, 86399, 1_700_000_000, 4_102_444_800] {
            let text = utc_text(t);
            let n = |a: usize, b: usize| text[a..b].parse::<i64>().unwrap();
            let back = days_from_civil(n(0, 4), n(5, 7), n(8, 10)) * 86400
                + n(11, 13) * 3600
                + n(14, 16) * 60
                + n(17, 19);
            assert_eq!(back, t, "{text}");
        }
    }

    #[test]
    fn times_of_both_kinds() {
        let utc = Tlv {
            tag: UTC_TIME,
            body: b"491231235959Z",
        };
        assert_eq!(time(&utc).map(utc_text).unwrap(), "2049-12-31 23:59:59");
        let utc = Tlv {
            tag: UTC_TIME,
            body: b"500101000000Z",
        };
        assert_eq!(time(&utc).map(utc_text).unwrap(), "1950-01-01 00:00:00");
        let gen = Tlv {
            tag: GENERALIZED_TIME,
            body: b"20991231120000Z",
        };
        assert_eq!(time(&gen).map(utc_text).unwrap(), "2099-12-31 12:00:00");
        let bad = Tlv {
            tag: UTC_TIME,
            body: b"491331235959Z",
        };
        assert_eq!(time(&bad), None);
    }

    #[test]
    fn dotted_oid_for_unknown_types() {
        assert_eq!(
            oid_name(&[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37]).unwrap(),
            "1.3.6.1.4.1.311"
        );
        assert_eq!(oid_name(&[0x55, 0x04, 0x03]).unwrap(), "CN");
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = testutil::Rand::new(0x55e1);
        for n in 0..testutil::cases(5000) {
            let len = rng.below(300);
            let mut v = rng.bytes(len);
            if n % 2 == 0 && v.len() > 4 {
                // Mostly well-framed, so the parser gets past the first tag.
                v[0] = SEQUENCE;
                v[1] = 0x82;
                v[2] = ((len - 4) >> 8) as u8;
                v[3] = (len - 4) as u8;
            }
            let _ = validity(&v);
            let _ = subject_oneline(&v);
        }
    }
}

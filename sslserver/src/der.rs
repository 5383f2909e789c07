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

/// The subject in OpenSSL's one-line form (`X509_NAME_oneline`, as
/// ucspi-ssl sets `SSL_CLIENT_S_DN`): `/TYPE=value` per attribute, `+`
/// instead of `/` before the further attributes of a multi-valued RDN;
/// OpenSSL's short name of the type, the dotted OID for a type it does not
/// name; in the value, bytes outside printable ASCII as `\xHH` and `/` and
/// `+` behind a backslash, as OpenSSL 3 writes them.
pub fn subject_oneline(cert: &[u8]) -> Option<String> {
    let t = tbs(cert)?;
    let mut out = String::new();
    for rdn in items(t.subject.body)? {
        if rdn.tag != SET {
            return None;
        }
        for (i, atv) in items(rdn.body)?.iter().enumerate() {
            let pair = items(atv.body)?;
            if atv.tag != SEQUENCE || pair.len() != 2 || pair[0].tag != OID {
                return None;
            }
            out.push(if i == 0 { '/' } else { '+' });
            out.push_str(&oid_name(pair[0].body)?);
            out.push('=');
            for &b in pair[1].body {
                match b {
                    b'/' | b'+' => {
                        out.push('\\');
                        out.push(char::from(b));
                    }
                    0x20..=0x7e => out.push(char::from(b)),
                    _ => out.push_str(&format!("\\x{b:02X}")),
                }
            }
        }
    }
    Some(out)
}

/// OpenSSL's short names of the attribute types a subject may hold, by
/// dotted OID: X.520's (2.5.4), PKCS #9's (1.2.840.113549.1.9), the
/// COSINE pilot attributes (0.9.2342.19200300.100.1) and the EV
/// jurisdiction ones (1.3.6.1.4.1.311.60.2.1), as OpenSSL 3 knows them.
const SHORT_NAMES: &[(&str, &str)] = &[
    ("0.9.2342.19200300.100.1.1", "UID"),
    ("0.9.2342.19200300.100.1.2", "textEncodedORAddress"),
    ("0.9.2342.19200300.100.1.3", "mail"),
    ("0.9.2342.19200300.100.1.4", "info"),
    ("0.9.2342.19200300.100.1.5", "favouriteDrink"),
    ("0.9.2342.19200300.100.1.6", "roomNumber"),
    ("0.9.2342.19200300.100.1.7", "photo"),
    ("0.9.2342.19200300.100.1.8", "userClass"),
    ("0.9.2342.19200300.100.1.9", "host"),
    ("0.9.2342.19200300.100.1.10", "manager"),
    ("0.9.2342.19200300.100.1.11", "documentIdentifier"),
    ("0.9.2342.19200300.100.1.12", "documentTitle"),
    ("0.9.2342.19200300.100.1.13", "documentVersion"),
    ("0.9.2342.19200300.100.1.14", "documentAuthor"),
    ("0.9.2342.19200300.100.1.15", "documentLocation"),
    ("0.9.2342.19200300.100.1.20", "homeTelephoneNumber"),
    ("0.9.2342.19200300.100.1.21", "secretary"),
    ("0.9.2342.19200300.100.1.22", "otherMailbox"),
    ("0.9.2342.19200300.100.1.23", "lastModifiedTime"),
    ("0.9.2342.19200300.100.1.24", "lastModifiedBy"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("0.9.2342.19200300.100.1.26", "aRecord"),
    ("0.9.2342.19200300.100.1.27", "pilotAttributeType27"),
    ("0.9.2342.19200300.100.1.28", "mXRecord"),
    ("0.9.2342.19200300.100.1.29", "nSRecord"),
    ("0.9.2342.19200300.100.1.30", "sOARecord"),
    ("0.9.2342.19200300.100.1.31", "cNAMERecord"),
    ("0.9.2342.19200300.100.1.37", "associatedDomain"),
    ("0.9.2342.19200300.100.1.38", "associatedName"),
    ("0.9.2342.19200300.100.1.39", "homePostalAddress"),
    ("0.9.2342.19200300.100.1.40", "personalTitle"),
    ("0.9.2342.19200300.100.1.41", "mobileTelephoneNumber"),
    ("0.9.2342.19200300.100.1.42", "pagerTelephoneNumber"),
    ("0.9.2342.19200300.100.1.43", "friendlyCountryName"),
    ("0.9.2342.19200300.100.1.44", "uid"),
    ("0.9.2342.19200300.100.1.45", "organizationalStatus"),
    ("0.9.2342.19200300.100.1.46", "janetMailbox"),
    ("0.9.2342.19200300.100.1.47", "mailPreferenceOption"),
    ("0.9.2342.19200300.100.1.48", "buildingName"),
    ("0.9.2342.19200300.100.1.49", "dSAQuality"),
    ("0.9.2342.19200300.100.1.50", "singleLevelQuality"),
    ("0.9.2342.19200300.100.1.51", "subtreeMinimumQuality"),
    ("0.9.2342.19200300.100.1.52", "subtreeMaximumQuality"),
    ("0.9.2342.19200300.100.1.53", "personalSignature"),
    ("0.9.2342.19200300.100.1.54", "dITRedirect"),
    ("0.9.2342.19200300.100.1.55", "audio"),
    ("0.9.2342.19200300.100.1.56", "documentPublisher"),
    ("1.2.840.113549.1.9.1", "emailAddress"),
    ("1.2.840.113549.1.9.2", "unstructuredName"),
    ("1.2.840.113549.1.9.3", "contentType"),
    ("1.2.840.113549.1.9.4", "messageDigest"),
    ("1.2.840.113549.1.9.5", "signingTime"),
    ("1.2.840.113549.1.9.6", "countersignature"),
    ("1.2.840.113549.1.9.7", "challengePassword"),
    ("1.2.840.113549.1.9.8", "unstructuredAddress"),
    ("1.2.840.113549.1.9.9", "extendedCertificateAttributes"),
    ("1.2.840.113549.1.9.14", "extReq"),
    ("1.2.840.113549.1.9.15", "SMIME-CAPS"),
    ("1.2.840.113549.1.9.16", "SMIME"),
    ("1.2.840.113549.1.9.20", "friendlyName"),
    ("1.2.840.113549.1.9.21", "localKeyID"),
    ("1.3.6.1.4.1.311.60.2.1.1", "jurisdictionL"),
    ("1.3.6.1.4.1.311.60.2.1.2", "jurisdictionST"),
    ("1.3.6.1.4.1.311.60.2.1.3", "jurisdictionC"),
    ("2.5.4.3", "CN"),
    ("2.5.4.4", "SN"),
    ("2.5.4.5", "serialNumber"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.9", "street"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.12", "title"),
    ("2.5.4.13", "description"),
    ("2.5.4.14", "searchGuide"),
    ("2.5.4.15", "businessCategory"),
    ("2.5.4.16", "postalAddress"),
    ("2.5.4.17", "postalCode"),
    ("2.5.4.18", "postOfficeBox"),
    ("2.5.4.19", "physicalDeliveryOfficeName"),
    ("2.5.4.20", "telephoneNumber"),
    ("2.5.4.21", "telexNumber"),
    ("2.5.4.22", "teletexTerminalIdentifier"),
    ("2.5.4.23", "facsimileTelephoneNumber"),
    ("2.5.4.24", "x121Address"),
    ("2.5.4.25", "internationaliSDNNumber"),
    ("2.5.4.26", "registeredAddress"),
    ("2.5.4.27", "destinationIndicator"),
    ("2.5.4.28", "preferredDeliveryMethod"),
    ("2.5.4.29", "presentationAddress"),
    ("2.5.4.30", "supportedApplicationContext"),
    ("2.5.4.31", "member"),
    ("2.5.4.32", "owner"),
    ("2.5.4.33", "roleOccupant"),
    ("2.5.4.34", "seeAlso"),
    ("2.5.4.35", "userPassword"),
    ("2.5.4.36", "userCertificate"),
    ("2.5.4.37", "cACertificate"),
    ("2.5.4.38", "authorityRevocationList"),
    ("2.5.4.39", "certificateRevocationList"),
    ("2.5.4.40", "crossCertificatePair"),
    ("2.5.4.41", "name"),
    ("2.5.4.42", "GN"),
    ("2.5.4.43", "initials"),
    ("2.5.4.44", "generationQualifier"),
    ("2.5.4.45", "x500UniqueIdentifier"),
    ("2.5.4.46", "dnQualifier"),
    ("2.5.4.47", "enhancedSearchGuide"),
    ("2.5.4.48", "protocolInformation"),
    ("2.5.4.49", "distinguishedName"),
    ("2.5.4.50", "uniqueMember"),
    ("2.5.4.51", "houseIdentifier"),
    ("2.5.4.52", "supportedAlgorithms"),
    ("2.5.4.53", "deltaRevocationList"),
    ("2.5.4.54", "dmdName"),
    ("2.5.4.65", "pseudonym"),
    ("2.5.4.72", "role"),
    ("2.5.4.97", "organizationIdentifier"),
    ("2.5.4.98", "c3"),
    ("2.5.4.99", "n3"),
    ("2.5.4.100", "dnsName"),
];

/// OpenSSL's short name of an attribute type, or its dotted form.
fn oid_name(oid: &[u8]) -> Option<String> {
    let dotted = dotted_oid(oid)?;
    Some(match SHORT_NAMES.iter().find(|(o, _)| *o == dotted) {
        Some((_, name)) => (*name).to_string(),
        None => dotted,
    })
}

/// An OID's dotted text: base-128 subidentifiers, the first holding the
/// first two arcs (0 and 1 take 40 values each, 2 the rest).
fn dotted_oid(oid: &[u8]) -> Option<String> {
    let mut subs = Vec::new();
    let mut acc = 0u64;
    for (i, &b) in oid.iter().enumerate() {
        acc = acc.checked_mul(128)? | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            subs.push(acc);
            acc = 0;
        } else if i + 1 == oid.len() {
            return None;
        }
    }
    let (&first, rest) = subs.split_first()?;
    let (a, b) = match first {
        0..=39 => (0, first),
        40..=79 => (1, first - 40),
        _ => (2, first - 80),
    };
    let mut text = format!("{a}.{b}");
    for s in rest {
        text.push('.');
        text.push_str(&s.to_string());
    }
    Some(text)
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
        assert_eq!(oid_name(&[0x55, 0x04, 0x11]).unwrap(), "postalCode");
        // The first subidentifier holds two arcs; past 2.39 it takes more
        // than one byte.
        assert_eq!(oid_name(&[0x88, 0x37, 0x03]).unwrap(), "2.999.3");
        assert_eq!(oid_name(&[0x78]).unwrap(), "2.40");
        assert_eq!(oid_name(&[0x2b, 0x86]), None);
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

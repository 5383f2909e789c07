//! Every parser of common fed random and damaged input with a fixed seed:
//! a clean result or a clean error, never a panic or a loop. The default
//! run takes well under a second; `PARSER_CASES=1000000 cargo test -p
//! common --test parsers` runs a long one.

use std::time::{Duration, Instant};

use common::cdb::{Error, Reader, Writer};
use common::control::Command;
use common::rules::{self, Line};
use common::status::Status;
use common::tai::Tai64n;
use testutil::{cases, Rand};

/// Bytes that make up rules lines, so that random lines reach deep into
/// the grammar, not only its first check.
const RULES_ALPHABET: &[u8] = b"0123456789.:-=@,\"'+/\\ \t#abdelnowxyADEFHINORSTXYZ\n\x00\xff";

#[test]
fn rules_lines_parse_or_are_bad_lines() {
    let mut r = Rand::new(0x5eed_0001);
    let started = Instant::now();
    for _ in 0..cases(20_000) {
        let n = r.below(80);
        let line = if r.below(4) == 0 {
            r.bytes(n)
        } else {
            r.from(RULES_ALPHABET, n)
        };
        match rules::parse_line(&line) {
            Ok(Line::Skip) => {}
            Ok(Line::Rule { keys, value, .. }) => {
                // A range expands to at most 256 keys; each value is a list
                // of NUL-terminated entries.
                assert!(!keys.is_empty() && keys.len() <= 256, "{line:?}");
                assert!(value.is_empty() || value.ends_with(&[0]), "{line:?}");
                let _ = rules::entries(&value).count();
            }
            Err(bad) => assert!(bad.0.len() <= line.len()),
        }
        let _ = rules::expand(&line);
        let _ = rules::entries(&line).count();
    }
    assert!(started.elapsed() < Duration::from_secs(60));
}

/// Keys and data, in the order they were added.
type Records = Vec<(Vec<u8>, Vec<u8>)>;

/// A small valid database.
fn database(r: &mut Rand) -> (Vec<u8>, Records) {
    let mut w = Writer::new(std::io::Cursor::new(Vec::new())).unwrap();
    let mut records = Vec::new();
    for _ in 0..r.below(20) {
        let (kn, dn) = (r.below(12), r.below(30));
        let (k, d) = (r.bytes(kn), r.bytes(dn));
        w.add(&k, &d).unwrap();
        records.push((k, d));
    }
    (w.finish().unwrap().into_inner(), records)
}

#[test]
fn rules_databases_random_or_damaged_give_a_value_or_a_clean_error() {
    let mut r = Rand::new(0x5eed_0002);
    for _ in 0..cases(3_000) {
        let (good, records) = database(&mut r);
        // A good database answers every key it holds (the first record of
        // a key wins).
        let db = Reader::new(good.clone());
        for (k, d) in &records {
            let first = records.iter().find(|(k2, _)| k2 == k).map(|(_, d2)| d2);
            assert_eq!(db.get(k).unwrap().as_ref(), first.or(Some(d)));
        }
        // Damaged: cut short, bytes changed, or noise. Lookups end with a
        // value, nothing, or Corrupt; never a panic, a loop or a huge
        // allocation (lengths are checked against the size).
        let mut bad = good.clone();
        match r.below(3) {
            0 => bad.truncate(r.below(good.len() + 1)),
            1 => {
                for _ in 0..1 + r.below(8) {
                    let i = r.below(bad.len());
                    bad[i] = r.next_u64() as u8;
                }
            }
            _ => {
                let n = r.below(4096);
                bad = r.bytes(n);
            }
        }
        // An empty database (cut to nothing, or no noise) fails with
        // EINVAL, as the original's mmap of 0 bytes does.
        let empty = bad.is_empty();
        // Read with the header whole first (tcpserver), every answer is
        // the same.
        let mut whole = Reader::new(bad.clone());
        whole.read_header();
        let db = Reader::new(bad);
        for (k, _) in records.iter().take(3) {
            assert_eq!(whole.get(k), db.get(k));
            match db.get(k) {
                Ok(_) | Err(Error::Corrupt) => {}
                Err(Error::Io(nix::errno::Errno::EINVAL)) if empty => {}
                Err(Error::Io(e)) => panic!("I/O error from memory: {e}"),
                Err(Error::TooLong) => panic!("no record limit was set"),
            }
        }
        let kn = r.below(10);
        let _ = rules::lookup(&db, &r.bytes(kn), None, None);
    }
}

#[test]
fn status_records_decode_or_are_refused() {
    let mut r = Rand::new(0x5eed_0003);
    for _ in 0..cases(50_000) {
        let n = r.below(24);
        let b = r.bytes(n);
        if let Some(st) = Status::decode(&b) {
            // What decodes encodes back to the same 18 bytes, the paused
            // byte read as a flag (any non-zero byte is paused, as svstat
            // reads it).
            assert_eq!(n, 18);
            let mut want = b.clone();
            want[16] = u8::from(b[16] != 0);
            assert_eq!(&st.encode()[..], &want[..]);
        }
    }
}

#[test]
fn tai64n_labels_parse_or_are_refused() {
    let mut r = Rand::new(0x5eed_0004);
    for _ in 0..cases(50_000) {
        let n = r.below(30);
        let s = if r.below(2) == 0 {
            let mut s = vec![b'@'];
            s.extend(r.from(b"0123456789abcdefABCDEF@x", n));
            s
        } else {
            r.bytes(n)
        };
        if let Some(t) = Tai64n::parse_label(&s) {
            // A label that parses prints back the same (in lower case).
            let back = t.label();
            assert_eq!(back.to_vec(), s.to_ascii_lowercase()[..back.len()].to_vec());
        }
    }
}

#[test]
fn control_bytes_are_a_command_or_ignored() {
    let mut known = 0;
    for b in 0..=255u8 {
        if let Some(c) = Command::from_byte(b) {
            assert_eq!(c.byte(), b);
            known += 1;
        }
    }
    assert_eq!(known, 14, "u d o x p c h a i t k, and q 1 2");
}

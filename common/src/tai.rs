//! TAI64 and TAI64N labels (spec/common.md §8).
//!
//! A TAI64 label is `2^62 + 10 + unix_seconds` as a big-endian u64: the "+10"
//! is a fixed offset, no leap-second table is consulted. TAI64N adds a
//! big-endian u32 of nanoseconds; the current time has `1000 * usec + 500`
//! nanoseconds, as the originals take it from `gettimeofday`. The text form
//! is `@` and 24 lowercase hex digits.

use std::time::{SystemTime, UNIX_EPOCH};

/// `2^62 + 10`: the TAI64 label of the Unix epoch.
pub const UNIX_EPOCH_LABEL: u64 = (1 << 62) + 10;

/// Length of the text form `@` + 24 hex digits.
pub const LABEL_LEN: usize = 25;

/// Now in whole Unix seconds, as `time(2)` gives it (the original svstat's
/// clock): the kernel's coarse clock, whose second can lag the precise
/// clock's by a tick, so that "N seconds" reads as the original's would at
/// the same moment.
pub fn time_secs() -> i64 {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_REALTIME_COARSE) {
        Ok(t) => t.tv_sec(),
        Err(_) => Tai64n::now().unix_secs(),
    }
}

/// A TAI64N moment: `secs` is the full TAI64 label (offset included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Tai64n {
    pub secs: u64,
    pub nanos: u32,
}

impl Tai64n {
    /// Now, with microsecond resolution and nanoseconds `usec * 1000 + 500`.
    pub fn now() -> Self {
        Self::from_system(SystemTime::now())
    }

    /// The label of a system time (microsecond resolution, like gettimeofday).
    pub fn from_system(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Self::from_unix(d.as_secs() as i64, d.subsec_micros()),
            Err(e) => {
                // Before 1970: floor to whole seconds below.
                let d = e.duration();
                let mut s = -(d.as_secs() as i64);
                let mut us = d.subsec_micros();
                if us > 0 {
                    s -= 1;
                    us = 1_000_000 - us;
                }
                Self::from_unix(s, us)
            }
        }
    }

    /// From Unix seconds and microseconds.
    pub fn from_unix(secs: i64, usec: u32) -> Self {
        Tai64n {
            secs: UNIX_EPOCH_LABEL.wrapping_add(secs as u64),
            nanos: usec * 1000 + 500,
        }
    }

    /// Unix seconds of this label.
    pub fn unix_secs(&self) -> i64 {
        self.secs.wrapping_sub(UNIX_EPOCH_LABEL) as i64
    }

    /// The 12 packed bytes: seconds then nanoseconds, both big-endian.
    pub fn pack(&self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..8].copy_from_slice(&self.secs.to_be_bytes());
        b[8..].copy_from_slice(&self.nanos.to_be_bytes());
        b
    }

    /// Unpacks 12 bytes written by [`Tai64n::pack`].
    pub fn unpack(b: &[u8; 12]) -> Self {
        let mut s = [0u8; 8];
        s.copy_from_slice(&b[..8]);
        let mut n = [0u8; 4];
        n.copy_from_slice(&b[8..]);
        Tai64n {
            secs: u64::from_be_bytes(s),
            nanos: u32::from_be_bytes(n),
        }
    }

    /// The text label `@` + 24 lowercase hex digits.
    pub fn label(&self) -> [u8; LABEL_LEN] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; LABEL_LEN];
        out[0] = b'@';
        for (i, byte) in self.pack().iter().enumerate() {
            out[1 + 2 * i] = HEX[usize::from(byte >> 4)];
            out[2 + 2 * i] = HEX[usize::from(byte & 15)];
        }
        out
    }

    /// Parses a text label (exactly `@` + 24 hex digits, either case).
    pub fn parse_label(s: &[u8]) -> Option<Self> {
        if s.len() != LABEL_LEN || s[0] != b'@' {
            return None;
        }
        let mut b = [0u8; 12];
        for (i, out) in b.iter_mut().enumerate() {
            let hi = hexval(s[1 + 2 * i])?;
            let lo = hexval(s[2 + 2 * i])?;
            *out = hi << 4 | lo;
        }
        Some(Self::unpack(&b))
    }
}

fn hexval(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_and_nanos() {
        let t = Tai64n::from_unix(0, 0);
        assert_eq!(t.secs, 0x4000_0000_0000_000a);
        assert_eq!(t.nanos, 500);
        let t = Tai64n::from_unix(1_000_000_000, 123_456);
        assert_eq!(t.nanos, 123_456_500);
        assert_eq!(t.unix_secs(), 1_000_000_000);
    }

    #[test]
    fn label_round_trip() {
        // The spec's example label.
        let l = b"@4000000037c219bf2ef02e94";
        let t = Tai64n::parse_label(l).unwrap();
        assert_eq!(&t.label(), l);
        assert_eq!(t.secs, 0x4000_0000_37c2_19bf);
        assert_eq!(t.nanos, 0x2ef0_2e94);
        assert_eq!(Tai64n::unpack(&t.pack()), t);
        assert!(Tai64n::parse_label(b"@4000000037c219bf2ef02e9").is_none());
        assert!(Tai64n::parse_label(b"@4000000037c219bf2ef02e9g").is_none());
    }

    #[test]
    fn now_is_sane() {
        let t = Tai64n::now();
        assert!(t.secs > UNIX_EPOCH_LABEL + 1_600_000_000);
        assert_eq!(t.nanos % 1000, 500);
    }
}

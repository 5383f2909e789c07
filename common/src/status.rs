//! The 18-byte `supervise/status` record (spec/supervise.md).
//!
//! | bytes | content |
//! |---|---|
//! | 0..12 | TAI64N of the last pid change, big-endian |
//! | 12..16 | pid of `./run`, **little-endian**, 0 = down |
//! | 16 | 1 if running and paused |
//! | 17 | `u` want up, `d` want down, 0 after `o` |
//!
//! Written as `status.new` (open_trunc, mode 0644 before umask), one write of
//! 18 bytes, then renamed over `status`. No fsync, as the original.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::errno::Errno;

use crate::diag::errno_of;
use crate::tai::Tai64n;

/// Size of the record.
pub const LEN: usize = 18;

/// Byte 17 for "want up".
pub const WANT_UP: u8 = b'u';
/// Byte 17 for "want down".
pub const WANT_DOWN: u8 = b'd';
/// Byte 17 after `o` (run once: no wish).
pub const WANT_NONE: u8 = 0;

/// A decoded status record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Time of the last pid change.
    pub stamp: Tai64n,
    /// Pid of `./run`, 0 when down.
    pub pid: u32,
    /// Byte 16 (any non-zero value reads as paused).
    pub paused: bool,
    /// Byte 17 as stored: `u`, `d`, 0 or anything else.
    pub want: u8,
}

impl Status {
    /// The 18 bytes. Byte 16 is set only while a pid is recorded.
    pub fn encode(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[..12].copy_from_slice(&self.stamp.pack());
        b[12..16].copy_from_slice(&self.pid.to_le_bytes());
        b[16] = u8::from(self.paused && self.pid != 0);
        b[17] = self.want;
        b
    }

    /// Decodes a record; `None` unless exactly 18 bytes are given.
    pub fn decode(b: &[u8]) -> Option<Self> {
        let b: &[u8; LEN] = b.try_into().ok()?;
        let mut t = [0u8; 12];
        t.copy_from_slice(&b[..12]);
        Some(Status {
            stamp: Tai64n::unpack(&t),
            pid: u32::from_le_bytes([b[12], b[13], b[14], b[15]]),
            paused: b[16] != 0,
            want: b[17],
        })
    }
}

/// Which step of an atomic status write failed.
#[derive(Debug, PartialEq, Eq)]
pub enum WriteError {
    /// Opening `status.new`.
    Open(Errno),
    /// Writing `status.new`; `None` for a short write ("partial write").
    Write(Option<Errno>),
    /// Renaming `status.new` to `status`.
    Rename(Errno),
}

/// Reads a status record at `path` (non-blocking, at most 19 bytes);
/// `None` unless it is exactly 18 bytes.
pub fn read(path: &Path) -> Option<Status> {
    Status::decode(&crate::file::read_bounded(path, LEN + 1).ok()?)
}

/// Writes `dir/status.new` and renames it to `dir/status`.
pub fn write_atomic(dir: &Path, bytes: &[u8; LEN]) -> Result<(), WriteError> {
    write_named_atomic(dir, "status", bytes)
}

/// Writes `dir/NAME.new` in one write and renames it to `dir/NAME`.
pub fn write_named_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), WriteError> {
    let new = dir.join(format!("{name}.new"));
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(&new)
        .map_err(|e| WriteError::Open(errno_of(&e)))?;
    match f.write(bytes) {
        Ok(n) if n == bytes.len() => {}
        Ok(_) => return Err(WriteError::Write(None)),
        Err(e) => return Err(WriteError::Write(Some(errno_of(&e)))),
    }
    drop(f);
    std::fs::rename(&new, dir.join(name)).map_err(|e| WriteError::Rename(errno_of(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of spec/supervise.md: pid 7345, want up, not paused.
    const EXAMPLE: [u8; 18] = [
        0x40, 0x00, 0x00, 0x00, 0x6b, 0x01, 0xed, 0x61, 0x0e, 0x4a, 0xba, 0xc4, 0xb1, 0x1c, 0x00,
        0x00, 0x00, 0x75,
    ];

    #[test]
    fn spec_example() {
        let s = Status::decode(&EXAMPLE).unwrap();
        assert_eq!(s.pid, 7345);
        assert_eq!(s.stamp.secs, 0x4000_0000_6b01_ed61);
        assert_eq!(s.stamp.nanos, 0x0e4a_bac4);
        assert!(!s.paused);
        assert_eq!(s.want, WANT_UP);
        assert_eq!(s.encode(), EXAMPLE);
    }

    #[test]
    fn paused_only_with_pid() {
        let s = Status {
            stamp: Tai64n::from_unix(0, 0),
            pid: 0,
            paused: true,
            want: WANT_DOWN,
        };
        let b = s.encode();
        assert_eq!(b[16], 0);
        assert_eq!(b[17], b'd');
        let b = Status {
            pid: 0x0102_0304,
            ..s
        }
        .encode();
        assert_eq!(&b[12..17], &[4, 3, 2, 1, 1]);
    }

    #[test]
    fn decode_needs_18() {
        assert!(Status::decode(&EXAMPLE[..17]).is_none());
        assert!(Status::decode(&[0u8; 19]).is_none());
    }

    #[test]
    fn atomic_write() {
        let d = std::env::temp_dir().join(format!("status-test-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        write_atomic(&d, &EXAMPLE).unwrap();
        assert_eq!(std::fs::read(d.join("status")).unwrap(), EXAMPLE);
        assert!(!d.join("status.new").exists());
        std::fs::remove_dir_all(&d).unwrap();
    }
}

//! The `supervise/xstatus` sidecar: what the 18-byte status cannot say
//! (an extension; docs/events.md is the reference for other readers).
//!
//! Version 1, 38 bytes, every number big-endian:
//!
//! | bytes | content |
//! |---|---|
//! | 0 | format version, 1 |
//! | 1 | flags: 1 ready, 2 permanent failure, 4 `finish` running, 8 an exit is recorded |
//! | 2..6 | pid of `./run` these facts belong to (the status file's pid; 0 down) |
//! | 6..18 | TAI64N of readiness (zero unless ready) |
//! | 18..30 | TAI64N of the last exit of `./run` (zero unless flag 8) |
//! | 30..32 | last exit code, 0–255, or 256 when a signal killed `./run` |
//! | 32 | the signal that killed `./run`, 0 if none |
//! | 33 | reserved, 0 |
//! | 34..38 | restarts: starts of `./run` since supervise started, less one |
//!
//! Written as `xstatus.new`, then renamed over `xstatus`, like the status.
//! A reader takes the first 38 bytes of a longer file (a later version
//! appends) and trusts the record only when its pid is the status file's.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::status::{write_named_atomic, WriteError};
use crate::tai::Tai64n;

/// Size of a version-1 record.
pub const LEN: usize = 38;
/// The version this code writes.
pub const VERSION: u8 = 1;

const READY: u8 = 1;
const PERMANENT: u8 = 2;
const FINISHING: u8 = 4;
const EXITED: u8 = 8;

/// How `./run` last ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// When it was reaped.
    pub at: Tai64n,
    /// Exit code, or 256 when a signal killed it.
    pub code: u16,
    /// The signal that killed it, 0 if none.
    pub signal: u8,
}

impl Exit {
    /// From a wait status as `waitpid` gives it.
    pub fn from_wstat(at: Tai64n, wstat: i32) -> Exit {
        let ended = crate::rt::Ended(wstat);
        match ended.code() {
            Some(code) => Exit {
                at,
                code: code as u16,
                signal: 0,
            },
            None => Exit {
                at,
                code: 256,
                signal: ended.signal().unwrap_or(0) as u8,
            },
        }
    }
}

/// A decoded record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct XStatus {
    pub pid: u32,
    /// When `./run` said it was ready, if it has (this run only).
    pub ready: Option<Tai64n>,
    pub last_exit: Option<Exit>,
    pub restarts: u32,
    /// `finish` exited 125: the service stays down until told otherwise.
    pub permanent_failure: bool,
    /// `finish` runs.
    pub finishing: bool,
}

const ZERO: Tai64n = Tai64n { secs: 0, nanos: 0 };

impl XStatus {
    pub fn encode(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[0] = VERSION;
        let mut flags = 0;
        if self.ready.is_some() {
            flags |= READY;
        }
        if self.permanent_failure {
            flags |= PERMANENT;
        }
        if self.finishing {
            flags |= FINISHING;
        }
        if self.last_exit.is_some() {
            flags |= EXITED;
        }
        b[1] = flags;
        b[2..6].copy_from_slice(&self.pid.to_be_bytes());
        b[6..18].copy_from_slice(&self.ready.unwrap_or(ZERO).pack());
        if let Some(e) = self.last_exit {
            b[18..30].copy_from_slice(&e.at.pack());
            b[30..32].copy_from_slice(&e.code.to_be_bytes());
            b[32] = e.signal;
        }
        b[34..38].copy_from_slice(&self.restarts.to_be_bytes());
        b
    }

    /// Decodes a record of this version or a later, longer one.
    pub fn decode(b: &[u8]) -> Option<XStatus> {
        if b.len() < LEN || b[0] < VERSION {
            return None;
        }
        let tai = |r: std::ops::Range<usize>| {
            let mut t = [0u8; 12];
            t.copy_from_slice(&b[r]);
            Tai64n::unpack(&t)
        };
        let flags = b[1];
        Some(XStatus {
            pid: u32::from_be_bytes([b[2], b[3], b[4], b[5]]),
            ready: (flags & READY != 0).then(|| tai(6..18)),
            last_exit: (flags & EXITED != 0).then(|| Exit {
                at: tai(18..30),
                code: u16::from_be_bytes([b[30], b[31]]),
                signal: b[32],
            }),
            restarts: u32::from_be_bytes([b[34], b[35], b[36], b[37]]),
            permanent_failure: flags & PERMANENT != 0,
            finishing: flags & FINISHING != 0,
        })
    }
}

/// Longest sidecar a reader looks at (a later version may be longer than
/// [`LEN`]; a file in its place is never read whole).
pub const READ_MAX: usize = 4096;

/// Reads the sidecar at `path` (non-blocking and bounded); `None` if it is
/// missing, unreadable or not a record.
pub fn read(path: &Path) -> Option<XStatus> {
    XStatus::decode(&crate::file::read_bounded(path, READ_MAX).ok()?)
}

/// What [`read_pair`] found beside the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sidecar {
    /// No sidecar, or not a record: a supervise that keeps none (the C one).
    Absent,
    /// The sidecar of the same pid as the status.
    Matched(XStatus),
    /// A sidecar of another pid: a leftover (of a supervise of ours that
    /// ran before a C one), or one caught between supervise's two writes
    /// for longer than the reader would wait. What it says is not known.
    Mismatched,
}

/// How long `svstat` waits for a supervise caught between its two writes
/// (the sidecar, then the status) to write the second. The two renames
/// are microseconds apart, but on a loaded machine supervise may lose its
/// CPU between them: 100 ms was once too short on two CPUs under the
/// test suite's load, where svstat then printed `"restarts":null` for a
/// service that had run for a while. svstat waits only in that window, or
/// when the status cannot be written while the sidecar could (supervise
/// warns of that).
pub const BETWEEN_WRITES: Duration = Duration::from_secs(1);

/// Reads `supervise/status` and `supervise/xstatus` under `sup` (a
/// supervise directory); the sidecar only when it speaks of the same pid.
/// `None` when the status cannot be read or is not 18 bytes. Both are
/// read at most twice: a waiter looks again when the status is renamed.
pub fn read_pair(sup: &Path) -> Option<(crate::status::Status, Sidecar)> {
    let status = sup.join("status");
    read_pair_with(sup, Duration::ZERO, || {
        crate::status::read(&status).ok_or(())
    })
    .ok()
}

/// [`read_pair`] with the status read by `status` (a reader that names
/// its failures), waiting up to `patience` for the two to agree.
/// supervise replaces the sidecar before the status, so a sidecar of
/// another pid than the status's was read between the two writes when it
/// is not older than the status. Both are read again at once, then every
/// millisecond while that holds, until `patience` has passed. A sidecar
/// older than the status is a leftover.
pub fn read_pair_with<E>(
    sup: &Path,
    patience: Duration,
    mut status: impl FnMut() -> Result<crate::status::Status, E>,
) -> Result<(crate::status::Status, Sidecar), E> {
    let path = sup.join("xstatus");
    let deadline = Instant::now() + patience;
    let mut tries = 0;
    loop {
        let st = status()?;
        match read(&path) {
            Some(x) if x.pid == st.pid => return Ok((st, Sidecar::Matched(x))),
            None => return Ok((st, Sidecar::Absent)),
            Some(_) => {}
        }
        tries += 1;
        if tries > 1 {
            let between = Instant::now() < deadline && not_older(&path, &sup.join("status"));
            if !between {
                return Ok((st, Sidecar::Mismatched));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Whether the file at `a` was modified no earlier than the one at `b`.
fn not_older(a: &Path, b: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    matches!((modified(a), modified(b)), (Some(a), Some(b)) if a >= b)
}

/// Writes `dir/xstatus.new` and renames it to `dir/xstatus`.
pub fn write_atomic(dir: &Path, bytes: &[u8; LEN]) -> Result<(), WriteError> {
    write_named_atomic(dir, "xstatus", bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_layout() {
        let x = XStatus {
            pid: 0x0102_0304,
            ready: Some(Tai64n::from_unix(1_700_000_000, 5)),
            last_exit: Some(Exit {
                at: Tai64n::from_unix(1_699_999_999, 7),
                code: 256,
                signal: 15,
            }),
            restarts: 3,
            permanent_failure: false,
            finishing: true,
        };
        let b = x.encode();
        assert_eq!(b[0], 1);
        assert_eq!(b[1], 1 | 4 | 8);
        assert_eq!(&b[2..6], &[1, 2, 3, 4]);
        assert_eq!(&b[30..34], &[1, 0, 15, 0]);
        assert_eq!(&b[34..38], &[0, 0, 0, 3]);
        assert_eq!(XStatus::decode(&b), Some(x));
        // A later version's longer record: the first 38 bytes are read.
        let mut longer = b.to_vec();
        longer[0] = 2;
        longer.extend_from_slice(b"more");
        assert_eq!(XStatus::decode(&longer), Some(x));
        assert_eq!(XStatus::decode(&b[..37]), None);
        let empty = XStatus::default().encode();
        assert_eq!(&empty[1..], &[0u8; 37]);
    }

    /// A supervise that loses its CPU for 300 ms between its two writes
    /// (the sidecar of the new pid, then the status): the reader waits
    /// and finds them matched. A sidecar older than the status is a
    /// leftover, told without waiting.
    #[test]
    fn a_reader_waits_for_the_status_after_a_newer_sidecar() {
        use crate::status::{self, Status};
        let d = std::env::temp_dir().join(format!("xstatus-pair-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let status = |pid| {
            Status {
                stamp: Tai64n::from_unix(1_700_000_000, 0),
                pid,
                paused: false,
                want: status::WANT_UP,
            }
            .encode()
        };
        let sidecar = |pid| {
            XStatus {
                pid,
                ..XStatus::default()
            }
            .encode()
        };
        status::write_atomic(&d, &status(0)).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        write_atomic(&d, &sidecar(7)).unwrap();
        let writer = {
            let d = d.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                status::write_atomic(&d, &status(7)).unwrap();
            })
        };
        let started = Instant::now();
        let read = || status::read(&d.join("status")).ok_or(());
        let (st, x) = read_pair_with(&d, BETWEEN_WRITES, read).unwrap();
        writer.join().unwrap();
        assert_eq!(st.pid, 7);
        assert!(matches!(x, Sidecar::Matched(x) if x.pid == 7), "{x:?}");
        assert!(started.elapsed() >= Duration::from_millis(250));
        // A leftover: the status is newer and of another pid (the sidecar
        // dated a minute back, whatever the file system's granularity).
        status::write_atomic(&d, &status(9)).unwrap();
        let old = std::time::SystemTime::now() - Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(d.join("xstatus"))
            .and_then(|f| f.set_modified(old))
            .unwrap();
        let started = Instant::now();
        let (st, x) = read_pair_with(&d, BETWEEN_WRITES, read).unwrap();
        assert_eq!((st.pid, x), (9, Sidecar::Mismatched));
        assert!(started.elapsed() < BETWEEN_WRITES);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn wait_status() {
        let t = Tai64n::from_unix(0, 0);
        assert_eq!(Exit::from_wstat(t, 3 << 8).code, 3);
        let k = Exit::from_wstat(t, 9);
        assert_eq!((k.code, k.signal), (256, 9));
    }
}

//! The event fifodir, `supervise/event/` (an extension; docs/events.md).
//!
//! A waiter makes a FIFO in the directory and reads it; supervise writes one
//! byte per event to every subscriber's FIFO. Subscribers' FIFOs are named
//! `ftrig1...` (s6's convention): a waiter makes its FIFO under another name,
//! opens it for reading and only then renames it, so that a publisher never
//! finds a subscriber's FIFO without its reader and removes it as stale.
//! A FIFO of that name that nobody reads (its waiter was killed) is removed
//! by the next publication, and so is one still under its first name a
//! minute after it was made (its waiter was killed before the rename).

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use nix::errno::Errno;
use nix::sys::stat::Mode;

use crate::diag::errno_of;
use crate::tai::Tai64n;

/// Mode of the directory: anyone may add a FIFO, only its owner remove it.
pub const DIR_MODE: u32 = 0o1733;
/// Mode of a subscriber's FIFO: the publisher writes, only its owner reads.
pub const FIFO_MODE: u32 = 0o622;
/// Names of subscribers' FIFOs start with this.
pub const PREFIX: &[u8] = b"ftrig1";
/// Our waiters make their FIFO under this prefix, then rename it.
const SCRATCH: &str = ".sub-";
/// A FIFO still under [`SCRATCH`] this long after it was made belongs to
/// a waiter killed between making and renaming it (microseconds apart).
const ABANDONED: std::time::Duration = std::time::Duration::from_secs(60);

/// Creates the directory if missing and gives it [`DIR_MODE`].
pub fn make(path: &Path) -> Result<(), Errno> {
    match std::fs::create_dir(path) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(errno_of(&e)),
    }
    let meta = std::fs::symlink_metadata(path).map_err(|e| errno_of(&e))?;
    if !meta.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    if meta.permissions().mode() & 0o7777 != DIR_MODE {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(DIR_MODE))
            .map_err(|e| errno_of(&e))?;
    }
    Ok(())
}

/// Writes `byte` to every subscriber's FIFO in `path`. Stale FIFOs (no
/// reader) are removed; a full one (a waiter that does not read) is
/// skipped. Entries that are not FIFOs are left alone and never written.
pub fn publish(path: &Path, byte: u8) {
    let Ok(entries) = std::fs::read_dir(path) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        if name.as_bytes().starts_with(SCRATCH.as_bytes()) {
            remove_if_abandoned(&e);
            continue;
        }
        if !name.as_bytes().starts_with(PREFIX) {
            continue;
        }
        if e.file_type().is_ok_and(|t| !t.is_fifo()) {
            continue;
        }
        let p = e.path();
        let f = OpenOptions::new()
            .write(true)
            .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOFOLLOW)
            .open(&p);
        match f {
            Ok(mut f) => {
                // Checked again on the open file: never a byte into
                // anything but a FIFO.
                if f.metadata().is_ok_and(|m| m.file_type().is_fifo()) {
                    let _ = f.write(&[byte]);
                }
            }
            Err(err) if errno_of(&err) == Errno::ENXIO => {
                let _ = std::fs::remove_file(&p);
            }
            Err(_) => {}
        }
    }
}

/// Removes `e` if it is a FIFO made longer than [`ABANDONED`] ago: a
/// waiter's that was never renamed, which nothing else would remove.
fn remove_if_abandoned(e: &std::fs::DirEntry) {
    let Ok(m) = e.metadata() else {
        return;
    };
    let old = m
        .modified()
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age > ABANDONED);
    if m.file_type().is_fifo() && old {
        let _ = std::fs::remove_file(e.path());
    }
}

/// A waiter's FIFO in an event fifodir, removed when dropped.
#[derive(Debug)]
pub struct Subscription {
    path: PathBuf,
    reader: File,
    /// Held so that the reader never sees end of file between events.
    _writer: File,
}

impl Subscription {
    /// Subscribes to the fifodir `dir`.
    pub fn new(dir: &Path) -> Result<Subscription, Errno> {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let label = Tai64n::now().label();
        let label = OsStr::from_bytes(&label[1..])
            .to_string_lossy()
            .into_owned();
        let tmp = dir.join(format!("{SCRATCH}{pid}-{n}"));
        let path = dir.join(format!("ftrig1:@{label}:{pid}:{n}"));
        nix::unistd::mkfifo(&tmp, Mode::from_bits_truncate(FIFO_MODE))?;
        let made = (|| {
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(FIFO_MODE))
                .map_err(|e| errno_of(&e))?;
            let reader = OpenOptions::new()
                .read(true)
                .custom_flags(nix::libc::O_NONBLOCK)
                .open(&tmp)
                .map_err(|e| errno_of(&e))?;
            let writer = OpenOptions::new()
                .write(true)
                .custom_flags(nix::libc::O_NONBLOCK)
                .open(&tmp)
                .map_err(|e| errno_of(&e))?;
            std::fs::rename(&tmp, &path).map_err(|e| errno_of(&e))?;
            Ok((reader, writer))
        })();
        match made {
            Ok((reader, writer)) => Ok(Subscription {
                path,
                reader,
                _writer: writer,
            }),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// The descriptor to wait on for reading.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.reader.as_fd()
    }

    /// The event bytes that have arrived (none if nothing has).
    pub fn events(&mut self, out: &mut Vec<u8>) {
        let mut buf = [0u8; 64];
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_reaches_subscribers_and_removes_stale_fifos() {
        let d = std::env::temp_dir().join(format!("fifodir-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let ev = d.join("event");
        make(&ev).unwrap();
        assert_eq!(
            std::fs::metadata(&ev).unwrap().permissions().mode() & 0o7777,
            DIR_MODE
        );
        let mut a = Subscription::new(&ev).unwrap();
        let mut b = Subscription::new(&ev).unwrap();
        // A stale FIFO, a regular file with the prefix, another name.
        let stale = ev.join("ftrig1:stale");
        nix::unistd::mkfifo(&stale, Mode::from_bits_truncate(0o622)).unwrap();
        std::fs::write(ev.join("ftrig1:file"), b"").unwrap();
        publish(&ev, b'u');
        publish(&ev, b'U');
        let (mut x, mut y) = (Vec::new(), Vec::new());
        a.events(&mut x);
        b.events(&mut y);
        assert_eq!((x.as_slice(), y.as_slice()), (&b"uU"[..], &b"uU"[..]));
        assert!(!stale.exists());
        assert_eq!(std::fs::read(ev.join("ftrig1:file")).unwrap(), b"");
        let p = a.path.clone();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            FIFO_MODE
        );
        drop(a);
        assert!(!p.exists());
        drop(b);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_waiters_fifo_never_renamed_goes_after_a_minute() {
        let d = std::env::temp_dir().join(format!("fifodir-scratch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        make(&d).unwrap();
        let mode = Mode::from_bits_truncate(FIFO_MODE);
        let (old, new, file) = (d.join(".sub-1-0"), d.join(".sub-2-0"), d.join(".sub-3-0"));
        nix::unistd::mkfifo(&old, mode).unwrap();
        nix::unistd::mkfifo(&new, mode).unwrap();
        std::fs::write(&file, b"").unwrap();
        let ago = nix::sys::time::TimeSpec::from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                - ABANDONED
                - std::time::Duration::from_secs(1),
        );
        for p in [&old, &file] {
            nix::sys::stat::utimensat(
                nix::fcntl::AT_FDCWD,
                p.as_path(),
                &ago,
                &ago,
                nix::sys::stat::UtimensatFlags::NoFollowSymlink,
            )
            .unwrap();
        }
        publish(&d, b'u');
        assert!(!old.exists(), "abandoned: removed");
        assert!(new.exists(), "a waiter about to rename it: kept");
        assert!(file.exists(), "not a FIFO: left alone");
        std::fs::remove_dir_all(&d).unwrap();
    }
}

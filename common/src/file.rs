//! The originals' file opens (spec/common.md): `open_read` and
//! `open_append` are non-blocking, so that a FIFO (or another special file)
//! where a regular file is expected fails or reads as empty at once instead
//! of hanging the program.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// `open_read`: `O_RDONLY | O_NONBLOCK`. A FIFO without a writer then reads
/// as empty; with a writer that writes nothing, a read fails with EAGAIN.
pub fn open_read(path: impl AsRef<Path>) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
}

/// A record lock (`fcntl`) of kind `kind` (`F_RDLCK`, `F_WRLCK`) over the
/// whole of a file, to take or to ask about.
pub fn whole_file(kind: nix::libc::c_int) -> nix::libc::flock {
    nix::libc::flock {
        l_type: kind as nix::libc::c_short,
        l_whence: nix::libc::SEEK_SET as nix::libc::c_short,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    }
}

/// Whether a file is neither a regular file nor a directory (a FIFO, a
/// terminal, a socket): one the C library, which opens files blocking,
/// might wait on for ever (a zone file, /etc/passwd for getpwnam).
pub fn special(m: &std::fs::Metadata) -> bool {
    !m.is_file() && !m.is_dir()
}

/// At most `max` bytes of the file at `path`, opened with [`open_read`]:
/// for small files another program writes (status records, settings), so
/// that a FIFO or a huge file in their place costs nothing.
pub fn read_bounded(path: impl AsRef<Path>, max: usize) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut f = open_read(path)?.take(max as u64);
    // A file too large for the memory left is "out of memory" (ENOMEM)
    // for the caller to report with its name.
    crate::sys::fallible(|| {
        let mut buf = Vec::new();
        buf.try_reserve(max.min(4096))
            .map_err(|_| io::Error::from_raw_os_error(nix::libc::ENOMEM))?;
        f.read_to_end(&mut buf)?;
        Ok(buf)
    })
}

/// `open_append`: `O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK`, with
/// `mode` for a new file. A FIFO without a reader fails with ENXIO.
pub fn open_append(path: impl AsRef<Path>, mode: u32) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(mode)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
}

/// `open_trunc`: `O_WRONLY | O_NONBLOCK | O_TRUNC | O_CREAT`, with `mode`
/// for a new file. A FIFO without a reader fails with ENXIO instead of
/// blocking.
pub fn open_trunc(path: impl AsRef<Path>, mode: u32) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
}

/// A system file read as text (resolv.conf, services), at most `max`
/// bytes, opened with [`open_read`]; `None` if it cannot be read.
pub fn read_text(path: impl AsRef<Path>, max: usize) -> Option<String> {
    read_bounded(path, max)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Opens for writing without creating or truncating, non-blocking (a
/// multilog `=FILE` status file).
pub fn open_write(path: impl AsRef<Path>) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
}

/// Descriptor 0, read directly: no buffer of its own (a program that polls
/// descriptor 0 would not see what a buffer held), and every error returned.
/// Rust's `std::io::stdin()` takes EBADF for end of input, so a descriptor 0
/// opened for writing, say, read as empty: tcprules then compiled an empty
/// rules.cdb in place of the old one, where the original fails. So does a
/// descriptor 0 that was closed at start (EBADF, as the original's read),
/// not the runtime's /dev/null there.
pub struct Stdin(io::Stdin);

/// Descriptor 1, written directly: no buffer of its own (a partial line is
/// written at once, as the originals flush before each read), and every
/// error returned, EBADF too, which `std::io::stdout()` takes for success,
/// and EBADF for a descriptor 1 that was closed at start.
pub struct Stdout(io::Stdout);

pub fn stdin() -> Stdin {
    Stdin(io::stdin())
}

pub fn stdout() -> Stdout {
    Stdout(io::stdout())
}

impl io::Read for Stdin {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Closed at start, it fails as the originals' read does, not as
        // the /dev/null the runtime put there.
        if crate::sys::closed_at_start(0) {
            return Err(nix::errno::Errno::EBADF.into());
        }
        Ok(nix::unistd::read(&self.0, buf)?)
    }
}

impl AsFd for Stdin {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl io::Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if crate::sys::closed_at_start(1) {
            return Err(nix::errno::Errno::EBADF.into());
        }
        Ok(nix::unistd::write(&self.0, buf)?)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How many bytes a filter reads at a time: `file` when its output is a
/// file, `pipe` when it is a pipe or a socket. A pipe's buffer holds 64 KiB
/// on Linux: a block whose output fills it leaves the reader and the
/// filter taking turns, where one that fills half of it lets them work at
/// once (tai64n into a pipe: 2.3 times the throughput with 16 KiB blocks
/// rather than 128 KiB, whose larger writes suit a file).
pub fn block_size(file: usize, pipe: usize) -> usize {
    use nix::sys::stat::{fstat, SFlag};
    match fstat(io::stdout()) {
        Ok(st) => {
            let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
            if kind == SFlag::S_IFIFO || kind == SFlag::S_IFSOCK {
                pipe
            } else {
                file
            }
        }
        Err(_) => file,
    }
}

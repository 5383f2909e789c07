//! Diagnostics in the form every original program uses.
//!
//! ```text
//! PROG: fatal: TEXT: ERRSTR      exit 111 (or 100 where a program says so)
//! PROG: warning: TEXT[: ERRSTR]
//! PROG: usage: SYNOPSIS          exit 100
//! ```
//!
//! `PROG` is a fixed literal per program, set once with [`set_program`].
//! `ERRSTR` comes from [`errstr`], the table of spec/common.md §2, never from
//! `strerror` or Rust's `(os error N)`. Each message is assembled first and
//! written with one `write(2)`, as the originals do.

use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::sync::OnceLock;

use nix::errno::Errno;

/// Usage error, or a permanent / negative answer.
pub const EXIT_USAGE: i32 = 100;
/// Temporary or system failure.
pub const EXIT_TEMP: i32 = 111;

static PROGRAM: OnceLock<&'static str> = OnceLock::new();
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Silences every message from now on (tcpserver and tcpclient `-q`); exit
/// codes are unchanged.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
}

/// Sets the fixed program name used as the prefix of every message.
pub fn set_program(name: &'static str) {
    let _ = PROGRAM.set(name);
}

/// The program name set by [`set_program`] (empty if never set).
pub fn program() -> &'static str {
    PROGRAM.get().copied().unwrap_or("")
}

/// The classic wording of an errno value (spec/common.md §2).
pub fn errstr(e: Errno) -> &'static str {
    use Errno::*;
    match e {
        UnknownErrno => "no error",
        EPERM => "permission denied",
        ENOENT => "file does not exist",
        ESRCH => "no such process",
        EINTR => "interrupted system call",
        EIO => "input/output error",
        ENXIO => "device not configured",
        E2BIG => "argument list too long",
        ENOEXEC => "exec format error",
        EBADF => "file descriptor not open",
        ECHILD => "no child processes",
        EAGAIN => "temporary failure",
        ENOMEM => "out of memory",
        EACCES => "access denied",
        EFAULT => "bad address",
        ENOTBLK => "not a block device",
        EBUSY => "device busy",
        EEXIST => "file already exists",
        EXDEV => "cross-device link",
        ENODEV => "device does not support operation",
        ENOTDIR => "not a directory",
        EISDIR => "is a directory",
        EINVAL => "invalid argument",
        ENFILE => "system cannot open more files",
        EMFILE => "process cannot open more files",
        ENOTTY => "not a tty",
        ETXTBSY => "text busy",
        EFBIG => "file too big",
        ENOSPC => "out of disk space",
        ESPIPE => "unseekable descriptor",
        EROFS => "read-only file system",
        EMLINK => "too many links",
        EPIPE => "broken pipe",
        EDOM => "input out of range",
        ERANGE => "output out of range",
        EDEADLK => "operation would cause deadlock",
        ENAMETOOLONG => "file name too long",
        ENOLCK => "no locks available",
        ENOSYS => "system call not available",
        ENOTEMPTY => "directory not empty",
        ELOOP => "symbolic link loop",
        ENOMSG => "no message of desired type",
        EIDRM => "identifier removed",
        ENOSTR => "not a stream device",
        ETIME => "timer expired",
        ENOSR => "out of stream resources",
        ENONET => "machine not on network",
        EREMOTE => "too many levels of remote in path",
        ENOLINK => "link severed",
        EADV => "advertise error",
        ESRMNT => "srmount error",
        ECOMM => "communication error",
        EPROTO => "protocol error",
        EMULTIHOP => "multihop attempted",
        EBADMSG => "bad message type",
        EREMCHG => "remote address changed",
        EUSERS => "too many users",
        ENOTSOCK => "not a socket",
        EDESTADDRREQ => "destination address required",
        EMSGSIZE => "message too long",
        EPROTOTYPE => "incorrect protocol type",
        ENOPROTOOPT => "protocol not available",
        EPROTONOSUPPORT => "protocol not supported",
        ESOCKTNOSUPPORT => "socket type not supported",
        EOPNOTSUPP => "operation not supported",
        EPFNOSUPPORT => "protocol family not supported",
        EAFNOSUPPORT => "address family not supported",
        EADDRINUSE => "address already used",
        EADDRNOTAVAIL => "address not available",
        ENETDOWN => "network down",
        ENETUNREACH => "network unreachable",
        ENETRESET => "network reset",
        ECONNABORTED => "connection aborted",
        ECONNRESET => "connection reset",
        ENOBUFS => "out of buffer space",
        EISCONN => "already connected",
        ENOTCONN => "not connected",
        ESHUTDOWN => "socket shut down",
        ETOOMANYREFS => "too many references",
        ETIMEDOUT => "timed out",
        ECONNREFUSED => "connection refused",
        EHOSTDOWN => "host down",
        EHOSTUNREACH => "host unreachable",
        EALREADY => "operation already in progress",
        EINPROGRESS => "operation in progress",
        ESTALE => "stale NFS file handle",
        EDQUOT => "disk quota exceeded",
        _ => "unknown error",
    }
}

/// The errno of an I/O error. std makes some up itself, with no errno:
/// a failed allocation (`std::fs::read` of a file larger than the memory
/// left) is ENOMEM ("out of memory", as the C programs say), end of file
/// in the middle of a record EPROTO, anything else EIO.
pub fn errno_of(e: &io::Error) -> Errno {
    match e.raw_os_error() {
        Some(n) => Errno::from_raw(n),
        None => match e.kind() {
            io::ErrorKind::OutOfMemory => Errno::ENOMEM,
            io::ErrorKind::UnexpectedEof => Errno::EPROTO,
            io::ErrorKind::WouldBlock => Errno::EAGAIN,
            io::ErrorKind::Interrupted => Errno::EINTR,
            _ => Errno::EIO,
        },
    }
}

/// [`errstr`] of an I/O error.
pub fn ioerrstr(e: &io::Error) -> &'static str {
    errstr(errno_of(e))
}

/// Anything that can be part of a message: text, paths, or raw bytes
/// wrapped in [`B`].
pub trait Part {
    fn bytes(&self) -> &[u8];
}
impl<T: AsRef<std::ffi::OsStr> + ?Sized> Part for T {
    fn bytes(&self) -> &[u8] {
        self.as_ref().as_bytes()
    }
}
/// Raw bytes as a message part.
pub struct B<'a>(pub &'a [u8]);
impl Part for B<'_> {
    fn bytes(&self) -> &[u8] {
        self.0
    }
}

/// Writes one already assembled line to fd 2 with a single write (retrying
/// the rest on a short write). Errors writing diagnostics are ignored.
pub fn write_line(line: &[u8]) {
    if QUIET.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let _ = io::stderr().lock().write_all(line);
}

/// Assembles `PREFIX` + parts + optional `: ERRSTR` + newline.
pub fn line(kind: &str, parts: &[&dyn Part], err: Option<Errno>) -> Vec<u8> {
    let mut v = Vec::with_capacity(128);
    v.extend_from_slice(program().as_bytes());
    v.extend_from_slice(kind.as_bytes());
    for p in parts {
        v.extend_from_slice(p.bytes());
    }
    if let Some(e) = err {
        v.extend_from_slice(b": ");
        v.extend_from_slice(errstr(e).as_bytes());
    }
    v.push(b'\n');
    v
}

/// `PROG: warning: TEXT`
pub fn warn(parts: &[&dyn Part]) {
    write_line(&line(": warning: ", parts, None));
}

/// `PROG: warning: TEXT: ERRSTR`
pub fn warn_sys(parts: &[&dyn Part], e: Errno) {
    write_line(&line(": warning: ", parts, Some(e)));
}

/// `PROG: fatal: TEXT`, exit `code`.
pub fn die(code: i32, parts: &[&dyn Part]) -> ! {
    write_line(&line(": fatal: ", parts, None));
    std::process::exit(code)
}

/// `PROG: fatal: TEXT: ERRSTR`, exit `code`.
pub fn die_sys(code: i32, parts: &[&dyn Part], e: Errno) -> ! {
    write_line(&line(": fatal: ", parts, Some(e)));
    std::process::exit(code)
}

/// `PROG: fatal: TEXT`, exit 111.
pub fn fatal(parts: &[&dyn Part]) -> ! {
    die(EXIT_TEMP, parts)
}

/// `PROG: fatal: TEXT: ERRSTR`, exit 111.
pub fn fatal_sys(parts: &[&dyn Part], e: Errno) -> ! {
    die_sys(EXIT_TEMP, parts, e)
}

/// `PROG: usage: SYNOPSIS`, exit 100.
pub fn usage(synopsis: &str) -> ! {
    usage_code(EXIT_USAGE, synopsis)
}

/// `PROG: usage: SYNOPSIS`, exit `code` (envdir exits 111 on usage).
pub fn usage_code(code: i32, synopsis: &str) -> ! {
    write_line(&line(": usage: ", &[&synopsis], None));
    std::process::exit(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_wording() {
        assert_eq!(errstr(Errno::ENOENT), "file does not exist");
        assert_eq!(errstr(Errno::EACCES), "access denied");
        assert_eq!(errstr(Errno::EPERM), "permission denied");
        assert_eq!(errstr(Errno::EAGAIN), "temporary failure");
        assert_eq!(errstr(Errno::ENXIO), "device not configured");
        assert_eq!(errstr(Errno::EOVERFLOW), "unknown error");
        assert_eq!(errstr(Errno::EDQUOT), "disk quota exceeded");
        assert_eq!(errstr(Errno::UnknownErrno), "no error");
        let e = io::Error::from_raw_os_error(libc_enoent());
        assert_eq!(ioerrstr(&e), "file does not exist");
    }

    fn libc_enoent() -> i32 {
        Errno::ENOENT as i32
    }

    #[test]
    fn line_layout() {
        set_program("supervise");
        let dir = std::ffi::OsStr::new("/x");
        let l = line(
            ": fatal: ",
            &[&"unable to chdir to ", &dir],
            Some(Errno::ENOENT),
        );
        assert_eq!(
            l,
            b"supervise: fatal: unable to chdir to /x: file does not exist\n"
        );
        let l = line(": usage: ", &[&"supervise dir"], None);
        assert_eq!(l, b"supervise: usage: supervise dir\n");
    }
}

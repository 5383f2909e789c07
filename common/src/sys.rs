//! The only module of the project allowed `unsafe`.
//!
//! Each block says why it is sound. Everything here is a thin wrapper over a
//! system call that `nix` exposes only as `unsafe` because of what it does to
//! the whole process (fork, signal dispositions), or does not wrap at all
//! (the chdir step of a posix_spawn plan), [`ArgvArea`], which writes
//! our own argv memory, a start-up hook that notes which standard
//! descriptors were closed before the Rust runtime hid it
//! ([`closed_at_start`]), and `waitpid`/`kill` with raw signal numbers,
//! which nix's types cannot hold for the real-time signals ([`wait_raw`],
//! [`kill_number`]).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::signal::{self, SigHandler, SigSet, Signal};
use nix::unistd::{ForkResult, Pid};

/// Where `fork` left us.
pub enum Forked {
    Parent(Pid),
    Child,
}

/// `fork(2)`.
///
/// Callers must be single-threaded (every program of this project is) and
/// must, in the child, only exec or exit after doing async-signal-safe work;
/// they prepare every allocation (paths, argv) before calling this.
pub fn fork() -> Result<Forked, Errno> {
    // SAFETY: the programs that call this never start threads, so the child
    // is an exact copy of a single-threaded process: no lock can be held by a
    // thread that does not exist in the child. Callers only exec or exit in
    // the child (documented above).
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Parent { child } => Ok(Forked::Parent(child)),
        ForkResult::Child => Ok(Forked::Child),
    }
}

/// `waitpid(pid, &status, WNOHANG unless hang)` (any child for `None`):
/// the pid and the raw status, `None` when nothing has exited yet.
///
/// nix's `waitpid` turns the status into a `WaitStatus`, which has no room
/// for a real-time signal: a child killed by one (34 to 64, a `kill -37` or
/// a program's own `raise(SIGRTMIN)`) is reaped, then reported as `EINVAL`
/// with its pid lost, and its owner never hears of its end (supervise
/// showed such a service up forever; tcpserver counted such a connection
/// forever). The C originals keep the raw status; so does this.
pub fn wait_raw(pid: Option<Pid>, hang: bool) -> Result<Option<(Pid, i32)>, Errno> {
    let mut status: nix::libc::c_int = 0;
    let who = pid.map_or(-1, Pid::as_raw);
    let flags = if hang { 0 } else { nix::libc::WNOHANG };
    // SAFETY: waitpid writes one int through the pointer, which points to
    // a local that outlives the call; it reads no other memory.
    let r = unsafe { nix::libc::waitpid(who, &mut status, flags) };
    match r {
        -1 => Err(Errno::last()),
        0 => Ok(None),
        p => Ok(Some((Pid::from_raw(p), status))),
    }
}

/// `kill(pid, sig)` for any signal number, the real-time ones (SIGRTMIN to
/// SIGRTMAX) included, which nix's `Signal` cannot name (`down-signal`).
pub fn kill_number(pid: Pid, sig: i32) -> Result<(), Errno> {
    // SAFETY: kill reads no memory of ours; a bad pid or signal number is
    // an error it returns.
    Errno::result(unsafe { nix::libc::kill(pid.as_raw(), sig) }).map(drop)
}

/// Sets `sig` to its default disposition.
///
/// The Rust runtime ignores SIGPIPE in every program, and an ignored signal
/// survives `execve`; everything we exec must get it back at its default,
/// as from the C originals.
pub fn default_signal(sig: Signal) {
    // SAFETY: SIG_DFL installs no handler, so no Rust code can run in signal
    // context; changing a disposition is process-wide and has no other effect.
    let _ = unsafe { signal::signal(sig, SigHandler::SigDfl) };
}

/// For a program whose original leaves SIGPIPE at its default (the filters,
/// svstat, svok, tcprules, tcprulescheck, fghack, readproctitle): undoes
/// the Rust runtime's ignore, so that output to a pipe whose reader has
/// gone ends it by SIGPIPE, as the original (141 in a shell, where an
/// ignored SIGPIPE gave EPIPE and exit 111), and so does a `kill -PIPE`.
pub fn sigpipe_default() {
    default_signal(Signal::SIGPIPE);
}

/// `set` with the C library's internal signals added: the kernel's 32 up to
/// SIGRTMIN (34 under glibc), which nix's `Signal` cannot name. glibc's
/// posix_spawn sets them to SIG_IGN in the child unless they are in its
/// "set to default" set, and an ignored signal survives the exec: every
/// program it starts would run with signals 32 and 33 ignored, where one
/// started by fork + exec (the originals) has them at their default.
pub fn with_internal_signals(set: &SigSet) -> SigSet {
    use nix::libc::{c_ulong, sigset_t};
    const WORD: usize = 8 * std::mem::size_of::<c_ulong>();
    const WORDS: usize = std::mem::size_of::<sigset_t>() / std::mem::size_of::<c_ulong>();
    const _: () =
        assert!(std::mem::size_of::<sigset_t>() == WORDS * std::mem::size_of::<c_ulong>());
    const _: () = assert!(std::mem::align_of::<sigset_t>() >= std::mem::align_of::<c_ulong>());
    let mut raw: sigset_t = *set.as_ref();
    // glibc's sigaddset refuses its internal signals: their bits are set
    // here in the layout the kernel and posix_spawn read, an array of
    // unsigned longs with bit n - 1 for signal n.
    // SAFETY: on Linux (glibc and musl alike) sigset_t is exactly such an
    // array (the size and alignment are checked above); the slice covers
    // `raw`'s bytes and nothing else, and lives no longer than this block.
    let words =
        unsafe { std::slice::from_raw_parts_mut(&mut raw as *mut sigset_t as *mut c_ulong, WORDS) };
    for sig in 32..nix::libc::SIGRTMIN() {
        let bit = (sig - 1) as usize;
        if let Some(w) = words.get_mut(bit / WORD) {
            *w |= 1 << (bit % WORD);
        }
    }
    // SAFETY: `raw` came from a valid SigSet; only bits of valid signal
    // numbers were added.
    unsafe { SigSet::from_sigset_t_unchecked(raw) }
}

/// The C library's internal signals (the kernel's 32 up to SIGRTMIN) back
/// at their default, in a forked child before its exec: an ignored one
/// (a leftover of the glibc posix_spawn that started this process) would
/// survive the exec, where [`with_internal_signals`] resets them in what
/// posix_spawn starts. glibc's sigaction refuses these signals, so the
/// system call is made directly; only async-signal-safe work.
pub fn default_internal_signals() {
    // The kernel's struct sigaction with every field zero is SIG_DFL with
    // no flags and an empty mask, whatever the order of its fields; 64
    // bytes cover it on every architecture below, whose kernel sigset_t
    // (the last argument) is 8 bytes.
    #[cfg(any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm",
        target_arch = "riscv64",
        target_arch = "powerpc64",
        target_arch = "s390x"
    ))]
    {
        let act = [0u64; 8];
        for sig in 32..nix::libc::SIGRTMIN() {
            // SAFETY: rt_sigaction reads a struct sigaction from `act`,
            // which is valid for reads of 64 bytes and lives across the
            // call, and writes nothing (the old action is null). SIG_DFL
            // installs no handler, so no code can run in signal context.
            let _ = unsafe {
                nix::libc::syscall(
                    nix::libc::SYS_rt_sigaction,
                    sig,
                    act.as_ptr(),
                    std::ptr::null_mut::<u8>(),
                    8usize,
                )
            };
        }
    }
}

/// Ignores `sig` (svc ignores SIGPIPE).
pub fn ignore_signal(sig: Signal) {
    // SAFETY: SIG_IGN installs no handler; see `default_signal`.
    let _ = unsafe { signal::signal(sig, SigHandler::SigIgn) };
}

/// `_exit(2)`: leave a forked child without running any parent cleanup.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit is async-signal-safe and only ends the calling process.
    unsafe { nix::libc::_exit(code) }
}

/// `dup2(fd, target)`, leaving `target` open for an `exec` to come (it is
/// not owned by anything afterwards). For a process setting up the
/// descriptors of the program it is about to exec (multilog's processors:
/// fds 4 and 5; tcpclient: fds 6 and 7).
pub fn dup_onto(fd: std::os::fd::BorrowedFd<'_>, target: std::os::fd::RawFd) -> Result<(), Errno> {
    // SAFETY: called just before exec; whatever `target`
    // held is replaced on purpose and no Rust object uses it afterwards. The
    // returned OwnedFd is forgotten so that the descriptor stays open.
    let new = unsafe { nix::unistd::dup2_raw(fd, target) }?;
    std::mem::forget(new);
    Ok(())
}

/// Broken-down local time, as `localtime(3)` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    /// Years since 1900.
    pub year: i64,
    /// 0..=11
    pub mon: u32,
    pub mday: u32,
    pub hour: u32,
    pub min: u32,
    pub sec: u32,
}

extern "C" {
    /// tzset(3), which the libc crate does not declare for Linux.
    fn tzset();
}

/// `localtime(3)` of Unix seconds, honouring `TZ`; `None` when the C
/// library cannot represent the time. As localtime(3) does, and
/// localtime_r(3) alone does not, it looks at the zone again (with `TZ`
/// unset, /etc/localtime is read again if it changed), so that a
/// long-running program (multilog `T`, tai64nlocal at the end of a pipe)
/// follows a change of the machine's time zone, as the C tai64nlocal does;
/// callers convert once per second at most.
///
/// A zone file that is there but is not a regular file or a directory (a
/// FIFO, a terminal) would block the C library's read of it for ever, with
/// no signal able to end the wait in a program that catches it (multilog's
/// TERM): the time is then converted as UTC (here, since the C library's
/// gmtime reads the zone file too), which is what the C library gives for
/// a zone file it cannot read. That costs no more system calls than
/// localtime(3): with `TZ` set, the file is looked at once (the C library
/// too reads it once); unset, /etc/localtime is looked at each time, and
/// tzset (which looks at it too) called only when it changed.
pub fn localtime(t: i64) -> Option<LocalTime> {
    let t: nix::libc::time_t = t;
    match zone_state() {
        Zone::Unreadable => return utc(t),
        // SAFETY: tzset takes no arguments; glibc updates its zone state
        // under its own lock, as localtime_r reads it.
        Zone::Changed => unsafe { tzset() },
        Zone::Same => {}
    }
    // SAFETY: tm is plain old data, fully written by localtime_r on success;
    // both pointers are valid for the duration of the call, and localtime_r
    // is the re-entrant form (no shared static buffer).
    let tm = unsafe {
        let mut tm: nix::libc::tm = std::mem::zeroed();
        if nix::libc::localtime_r(&t, &mut tm).is_null() {
            return None;
        }
        tm
    };
    Some(LocalTime::of(&tm))
}

/// The time as UTC, without the C library: its gmtime(3) reads the zone
/// file too (for leap seconds). `None` where gmtime(3) fails: a year that
/// does not fit its `int`.
fn utc(t: i64) -> Option<LocalTime> {
    // Days since 1970-01-01 to a proleptic Gregorian date, counted in
    // 400-year eras from 0000-03-01.
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let mday = doy - (153 * mp + 2) / 5 + 1;
    let mon = if mp < 10 { mp + 2 } else { mp - 10 };
    let year = yoe + era * 400 + i64::from(mon < 2) - 1900;
    i32::try_from(year).ok()?;
    Some(LocalTime {
        year,
        mon: mon as u32,
        mday: mday as u32,
        hour: (secs / 3600) as u32,
        min: (secs / 60 % 60) as u32,
        sec: (secs % 60) as u32,
    })
}

impl LocalTime {
    fn of(tm: &nix::libc::tm) -> LocalTime {
        LocalTime {
            year: i64::from(tm.tm_year),
            mon: tm.tm_mon as u32,
            mday: tm.tm_mday as u32,
            hour: tm.tm_hour as u32,
            min: tm.tm_min as u32,
            sec: tm.tm_sec as u32,
        }
    }
}

/// The file the C library reads the zone from, as glibc's tzset finds it:
/// `TZ` unset, /etc/localtime; `TZ` empty, `Universal`; `:` alone, none
/// (UTC); a leading `:` is dropped; a relative name is looked for under
/// `TZDIR`, else /usr/share/zoneinfo. (A `TZ` such as
/// `EST5EDT,M3.2.0,M11.1.0` is tried as a file first too, and parsed when
/// there is none.)
fn zone_file(tz: Option<&OsStr>, tzdir: Option<&OsStr>) -> Option<PathBuf> {
    let Some(tz) = tz else {
        return Some(PathBuf::from("/etc/localtime"));
    };
    // Empty: glibc's name for UTC, looked for as any other.
    let tz = match tz.as_bytes() {
        b"" => b"Universal",
        tz => tz.strip_prefix(b":").unwrap_or(tz),
    };
    if tz.is_empty() {
        return None;
    }
    if tz.starts_with(b"/") {
        return Some(PathBuf::from(OsStr::from_bytes(tz)));
    }
    let dir = tzdir
        .filter(|d| !d.is_empty())
        .unwrap_or(OsStr::new("/usr/share/zoneinfo"));
    Some(Path::new(dir).join(OsStr::from_bytes(tz)))
}

/// What [`localtime`] must do about the zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Zone {
    /// Its file is there but is neither a regular file nor a directory:
    /// reading it might wait for ever.
    Unreadable,
    /// First use, or the machine's zone file changed: tzset.
    Changed,
    /// As at the last tzset.
    Same,
}

/// The zone file's identity at the last tzset (device, inode, change
/// time), `None` inside when it could not be looked at; for /etc/localtime
/// with `TZ` unset.
type ZoneKey = Option<(u64, u64, i64, i64)>;

fn zone_state() -> Zone {
    use std::os::unix::fs::MetadataExt;
    use std::sync::{Mutex, OnceLock};
    // TZ and TZDIR as at the first conversion: the programs never change
    // them, and the C library reads a zone named by TZ only once.
    static FILE: OnceLock<(bool, Option<PathBuf>)> = OnceLock::new();
    static FIXED: OnceLock<Zone> = OnceLock::new();
    static LAST: Mutex<Option<ZoneKey>> = Mutex::new(None);
    let (set, file) = FILE.get_or_init(|| {
        let tz = std::env::var_os("TZ");
        let tzdir = std::env::var_os("TZDIR");
        (tz.is_some(), zone_file(tz.as_deref(), tzdir.as_deref()))
    });
    let meta = || file.as_ref().and_then(|f| std::fs::metadata(f).ok());
    if *set {
        return *FIXED.get_or_init(|| match meta() {
            Some(m) if crate::file::special(&m) => Zone::Unreadable,
            _ => Zone::Changed,
        });
    }
    let m = meta();
    if m.as_ref().is_some_and(crate::file::special) {
        return Zone::Unreadable;
    }
    let key = m.map(|m| (m.dev(), m.ino(), m.ctime(), m.ctime_nsec()));
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    if *last == Some(key) {
        Zone::Same
    } else {
        *last = Some(key);
        Zone::Changed
    }
}

/// A duplicate (close-on-exec, numbered 10 or above) of a descriptor
/// inherited by number, such as the 6 and 7 that tcpclient gives.
pub fn dup_inherited(fd: std::os::fd::RawFd) -> Result<std::os::fd::OwnedFd, Errno> {
    use std::os::fd::FromRawFd;
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) reads no memory; on a descriptor that
    // is not open it fails with EBADF.
    let r = unsafe { nix::libc::fcntl(fd, nix::libc::F_DUPFD_CLOEXEC, 10) };
    if r < 0 {
        return Err(Errno::last());
    }
    // SAFETY: r is a new descriptor that nothing else owns.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(r) })
}

/// Makes the C library's heap grow by what is asked, not by its default
/// 128 KiB pad: a program run under `softlimit -m` with a tight bound (as
/// old run scripts have for tcpserver) must fit in the address space the C
/// original needed. Call first thing in `main`, before any allocation.
pub fn small_heap() {
    // SAFETY: mallopt only changes malloc's tuning parameters; it is called
    // before any other thread exists.
    unsafe {
        nix::libc::mallopt(nix::libc::M_TOP_PAD, 0);
    }
}

/// Keeps a long-lived daemon's heap at what it holds: allocations of
/// `bytes` or more get a mapping of their own, returned to the kernel when
/// freed, and free space at the top of the heap beyond `bytes` is given
/// back, with no pad. A transient large block (supervise: the C library's
/// 32 KiB buffer of each directory listing) then leaves no dirty pages
/// behind for the life of the process. Call first thing in `main`.
pub fn transient_large_allocations(bytes: usize) {
    let bytes = i32::try_from(bytes).unwrap_or(i32::MAX);
    // SAFETY: mallopt only changes malloc's tuning parameters; it is called
    // before any other thread exists.
    unsafe {
        nix::libc::mallopt(nix::libc::M_TOP_PAD, 0);
        nix::libc::mallopt(nix::libc::M_TRIM_THRESHOLD, bytes);
        nix::libc::mallopt(nix::libc::M_MMAP_THRESHOLD, bytes);
    }
}

/// Removes any IP options from a connected socket (tcpserver without `-o`:
/// `setsockopt(IPPROTO_IP, IP_OPTIONS, NULL, 0)`). Errors are the caller's
/// to ignore, as the original does (an IPv6 socket refuses it).
pub fn clear_ip_options(fd: std::os::fd::BorrowedFd<'_>) -> Result<(), Errno> {
    use std::os::fd::AsRawFd;
    // SAFETY: a null option value of length 0 is the documented way to
    // clear IP options; the kernel reads no memory for it, and the
    // descriptor is borrowed for the duration of the call.
    let r = unsafe {
        nix::libc::setsockopt(
            fd.as_raw_fd(),
            nix::libc::IPPROTO_IP,
            nix::libc::IP_OPTIONS,
            std::ptr::null(),
            0,
        )
    };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// Adds "change to `dir`" to a posix_spawn descriptor plan
/// (`posix_spawn_file_actions_addchdir_np`, glibc 2.29 and musl 1.1.24),
/// which nix does not wrap: the log supervise that svscan starts, and
/// multilog's processors, run in another directory than their parent.
pub fn spawn_add_chdir(
    actions: &mut nix::spawn::PosixSpawnFileActions,
    dir: &std::ffi::CStr,
) -> Result<(), Errno> {
    let fa: *mut nix::spawn::PosixSpawnFileActions = actions;
    // SAFETY: PosixSpawnFileActions is #[repr(transparent)] over an
    // initialised posix_spawn_file_actions_t (nix's `init`), so the cast
    // pointer is valid and exclusively borrowed for the call; `dir` is a
    // NUL-terminated string that the C library copies.
    let r = unsafe {
        nix::libc::posix_spawn_file_actions_addchdir_np(
            fa.cast::<nix::libc::posix_spawn_file_actions_t>(),
            dir.as_ptr(),
        )
    };
    if r != 0 {
        Err(Errno::from_raw(r))
    } else {
        Ok(())
    }
}

/// Adds "dup2 `from` onto `to`" to a posix_spawn descriptor plan
/// (`posix_spawn_file_actions_adddup2`). nix wraps it, but reads its
/// result as a system call's (-1 and errno), while the function returns
/// the error number itself: an EBADF (`to` at or above the soft limit on
/// descriptors, a `notification-fd` of 2000 under 1024) or an ENOMEM was
/// taken for success, and the program started without the descriptor.
pub fn spawn_add_dup2(
    actions: &mut nix::spawn::PosixSpawnFileActions,
    from: std::os::fd::RawFd,
    to: std::os::fd::RawFd,
) -> Result<(), Errno> {
    let fa: *mut nix::spawn::PosixSpawnFileActions = actions;
    // SAFETY: as in `spawn_add_chdir`: the cast pointer is to an
    // initialised posix_spawn_file_actions_t, exclusively borrowed for the
    // call; the descriptors are plain integers the C library records.
    let r = unsafe {
        nix::libc::posix_spawn_file_actions_adddup2(
            fa.cast::<nix::libc::posix_spawn_file_actions_t>(),
            from,
            to,
        )
    };
    if r != 0 {
        Err(Errno::from_raw(r))
    } else {
        Ok(())
    }
}

/// The last argument of our own command line, in the memory the kernel
/// shows as /proc/PID/cmdline: readproctitle's display area.
pub struct ArgvArea {
    mem: std::fs::File,
    addr: u64,
    len: usize,
}

impl ArgvArea {
    /// The area of the last argument, if it is `len` bytes long (it was
    /// not changed since exec) and /proc can be written.
    pub fn last_argument(len: usize) -> Option<ArgvArea> {
        let stat = std::fs::read("/proc/self/stat").ok()?;
        let close = stat.iter().rposition(|&b| b == b')')?;
        let fields: Vec<&[u8]> = stat[close + 1..]
            .split(|&b| b == b' ')
            .filter(|f| !f.is_empty())
            .collect();
        // Field 48 of proc(5) is arg_start; fields here start at field 3.
        let arg_start: u64 = std::str::from_utf8(fields.get(48 - 3)?)
            .ok()?
            .parse()
            .ok()?;
        let cmdline = std::fs::read("/proc/self/cmdline").ok()?;
        let body = cmdline.strip_suffix(b"\0")?;
        let last_start = body.iter().rposition(|&b| b == 0).map_or(0, |i| i + 1);
        if body.len() - last_start != len {
            return None;
        }
        let mem = std::fs::OpenOptions::new()
            .write(true)
            .open("/proc/self/mem")
            .ok()?;
        Some(ArgvArea {
            mem,
            addr: arg_start + last_start as u64,
            len,
        })
    }

    /// Shows `bytes` (at most the area's length) in the area.
    pub fn show(&self, bytes: &[u8]) {
        use std::os::unix::fs::FileExt;
        let n = bytes.len().min(self.len);
        // Safety argument (no `unsafe` block: the write goes through a
        // file, but it changes our own memory behind the compiler's back,
        // which is why it lives here). The bytes written are the `len`
        // bytes of the last argument exactly, found from the kernel's own
        // arg_start and cmdline, so its NUL terminator and every other
        // string stay intact. No Rust reference to that memory lives while
        // it changes: std::env::args copies argv into owned strings when
        // called, and nothing keeps a pointer into the block; the bytes
        // written are plain bytes, valid in any state, so a later copy
        // sees only a different argument of the same length.
        let _ = self.mem.write_all_at(&bytes[..n], self.addr);
    }
}

/// `dup2(from, to)` on raw numbers, for a forked child carrying out its
/// descriptor plan just before exec (`to` is left open for the exec).
pub fn dup_raw_onto(from: std::os::fd::RawFd, to: std::os::fd::RawFd) -> Result<(), Errno> {
    if from == to {
        // dup2 would do nothing and leave close-on-exec set: clear it.
        // SAFETY: fcntl(F_SETFD) reads no memory; EBADF if not open.
        let r = unsafe { nix::libc::fcntl(from, nix::libc::F_SETFD, 0) };
        return if r < 0 { Err(Errno::last()) } else { Ok(()) };
    }
    // SAFETY: dup2 reads no memory; on a descriptor that is not open it
    // fails with EBADF. Whatever `to` held is replaced on purpose: the
    // caller is about to exec and no Rust object uses `to` afterwards.
    let r = unsafe { nix::libc::dup2(from, to) };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// Closes standard descriptor 0, 1 or 2: of a server that hands 0 and 1
/// to each connection (tcpserver: the original closes both after printing
/// its port, so that a connection's socket can take them and the server
/// needs no descriptor of its own for them), or before an exec
/// ([`reclose_standard_descriptors`]).
pub fn close_std(fd: std::os::fd::RawFd) {
    debug_assert!((0..3).contains(&fd));
    // SAFETY: no Rust object owns descriptors 0, 1 and 2 (std's stdin,
    // stdout and stderr handles only name them, and the caller writes
    // nothing through them afterwards); closing them invalidates no
    // OwnedFd.
    unsafe {
        nix::libc::close(fd);
    }
}

/// The allocator of every program: the system's, except that a failed
/// allocation ends the program as the C originals end on one, with
/// `PROG: fatal: out of memory` and exit 111, instead of Rust's abort
/// (SIGABRT and "memory allocation of N bytes failed"): a program started
/// under a `softlimit` too small for its input fails cleanly.
///
/// Inside [`fallible`] a failed allocation is returned to its caller
/// (`try_reserve`, `std::fs::read`), so that a read too large for the
/// memory left says which file, as the originals do.
pub struct OutOfMemoryExits;

static FALLIBLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Runs `f` with allocation failures returned as errors (see
/// [`OutOfMemoryExits`]).
pub fn fallible<T>(f: impl FnOnce() -> T) -> T {
    use std::sync::atomic::Ordering;
    let was = FALLIBLE.swap(true, Ordering::Relaxed);
    let r = f();
    FALLIBLE.store(was, Ordering::Relaxed);
    r
}

/// Appends `part` to `v`, or fails with ENOMEM ("out of memory") when
/// the memory left cannot hold it, for the caller to report with what it
/// was reading (the originals' stralloc growth failing in getln or a read).
pub fn extend_or_enomem(v: &mut Vec<u8>, part: &[u8]) -> std::io::Result<()> {
    reserve_or_enomem(v, part.len())?;
    v.extend_from_slice(part);
    Ok(())
}

/// Room in `v` for `n` more bytes, or ENOMEM when the memory left cannot
/// give it. A vector that has the room is left alone, and so is the flag
/// of [`fallible`]: a static, whose page a parent that forks after each
/// use (tcpserver's) would copy.
pub fn reserve_or_enomem<T>(v: &mut Vec<T>, n: usize) -> std::io::Result<()> {
    if v.capacity() - v.len() >= n {
        return Ok(());
    }
    fallible(|| v.try_reserve(n)).map_err(|_| std::io::Error::from_raw_os_error(nix::libc::ENOMEM))
}

/// A null result: given back inside [`fallible`], else the end.
fn failed(p: *mut u8) -> *mut u8 {
    if !p.is_null() || FALLIBLE.load(std::sync::atomic::Ordering::Relaxed) {
        return p;
    }
    // No allocation from here on: the line is assembled on the stack.
    let mut line = [0u8; 96];
    let mut n = 0;
    for part in [
        crate::diag::program().as_bytes(),
        b": fatal: out of memory\n",
    ] {
        let take = part.len().min(line.len() - n);
        line[n..n + take].copy_from_slice(&part[..take]);
        n += take;
    }
    let _ = nix::unistd::write(std::io::stderr(), &line[..n]);
    exit_now(crate::diag::EXIT_TEMP)
}

// SAFETY: every method passes its arguments unchanged to the system
// allocator, which upholds GlobalAlloc's contract; a null result is either
// returned as is (allowed by the contract) or ends the process without
// returning.
unsafe impl std::alloc::GlobalAlloc for OutOfMemoryExits {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: the caller's layout obligations are passed on unchanged.
        failed(unsafe { std::alloc::System.alloc(layout) })
    }
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        // A small block is taken as any other and zeroed here: glibc's
        // calloc skips the per-thread cache and works on the arena itself,
        // one more page written per allocation (for tcpserver's parent, one
        // more copy-on-write fault per connection after each fork). Large
        // ones keep calloc, which need not touch fresh pages.
        if layout.size() <= SMALL_ZEROED {
            // SAFETY: as for alloc.
            let p = failed(unsafe { std::alloc::System.alloc(layout) });
            if !p.is_null() {
                // SAFETY: p is a fresh block of layout.size() writable
                // bytes.
                unsafe { p.write_bytes(0, layout.size()) };
            }
            return p;
        }
        // SAFETY: as for alloc.
        failed(unsafe { std::alloc::System.alloc_zeroed(layout) })
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        // SAFETY: the caller's obligations (ptr from this allocator with
        // layout, a valid new size) are passed on unchanged; on a null
        // result the old block stays valid, as the contract says.
        failed(unsafe { std::alloc::System.realloc(ptr, layout, new) })
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: as for alloc.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

/// Up to this size a zeroed block comes from malloc (glibc's thread cache
/// holds blocks up to 1032 bytes).
const SMALL_ZEROED: usize = 1024;

#[global_allocator]
static ALLOCATOR: OutOfMemoryExits = OutOfMemoryExits;

/// Bit N set: descriptor N (0, 1 or 2) was closed when the program was
/// started, before the Rust runtime opened `/dev/null` on it (it does so
/// before `main`, and nothing can tell the two apart afterwards).
static CLOSED_AT_START: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Notes which standard descriptors are closed; run by the C library at
/// start, before `main`. One poll, as the runtime's own check: POLLNVAL
/// marks a descriptor that is not open (fcntl for each where poll fails).
extern "C" fn note_closed_standard_descriptors() {
    use nix::libc::{fcntl, poll, pollfd, F_GETFD, POLLNVAL};
    let mut fds = [0, 1, 2].map(|fd| pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    let mut closed = 0;
    // SAFETY: poll writes only the `revents` of the three entries of
    // `fds`, which lives across the call; with a zero timeout it returns
    // at once.
    if unsafe { poll(fds.as_mut_ptr(), 3, 0) } >= 0 {
        for p in fds {
            if p.revents & POLLNVAL != 0 {
                closed |= 1 << p.fd;
            }
        }
    } else {
        for fd in 0..3 {
            // SAFETY: fcntl(F_GETFD) reads no memory and changes nothing;
            // on a descriptor that is not open it fails with EBADF.
            if unsafe { fcntl(fd, F_GETFD) } == -1 && Errno::last() == Errno::EBADF {
                closed |= 1 << fd;
            }
        }
    }
    CLOSED_AT_START.store(closed, std::sync::atomic::Ordering::Relaxed);
}

// SAFETY: an entry of `.init_array` is called by the C library's start-up
// code, after the C library itself is ready and before `main` (where the
// Rust runtime replaces closed standard descriptors); std registers its
// own argument hook the same way on Linux. The function only makes
// a poll (or fcntl) call and one atomic store, needs nothing of the Rust runtime,
// and takes no arguments (the extra ones glibc passes are ignored under
// the C calling convention).
#[used]
#[link_section = ".init_array"]
static NOTE_CLOSED_STANDARD_DESCRIPTORS: extern "C" fn() = note_closed_standard_descriptors;

/// Whether descriptor `fd` (0, 1 or 2) was closed when the program was
/// started: it now holds `/dev/null`, which the Rust runtime put there.
pub fn closed_at_start(fd: std::os::fd::RawFd) -> bool {
    (0..3).contains(&fd)
        && CLOSED_AT_START.load(std::sync::atomic::Ordering::Relaxed) & (1 << fd) != 0
}

/// Closes again each standard descriptor that was closed at start (the
/// runtime's `/dev/null` is there now), just before a chain-loader's exec:
/// the program run in its place finds it closed, as under the originals.
pub fn reclose_standard_descriptors() {
    for fd in (0..3).filter(|&fd| closed_at_start(fd)) {
        close_std(fd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_file_is_where_glibc_looks() {
        let z = |tz: Option<&str>, dir: Option<&str>| {
            zone_file(tz.map(OsStr::new), dir.map(OsStr::new))
                .map(|p| p.to_string_lossy().into_owned())
        };
        let s = |p: &str| Some(p.to_string());
        assert_eq!(z(None, None), s("/etc/localtime"));
        assert_eq!(z(None, Some("/z")), s("/etc/localtime"));
        assert_eq!(z(Some(""), None), s("/usr/share/zoneinfo/Universal"));
        assert_eq!(z(Some(""), Some("/z")), s("/z/Universal"));
        assert_eq!(z(Some(":"), None), None);
        assert_eq!(
            z(Some("Europe/Berlin"), None),
            s("/usr/share/zoneinfo/Europe/Berlin")
        );
        assert_eq!(
            z(Some(":Europe/Berlin"), Some("")),
            s("/usr/share/zoneinfo/Europe/Berlin")
        );
        assert_eq!(z(Some("UTC"), Some("/z")), s("/z/UTC"));
        assert_eq!(z(Some("/tmp/zone"), Some("/z")), s("/tmp/zone"));
        assert_eq!(z(Some(":/tmp/zone"), None), s("/tmp/zone"));
        assert_eq!(
            z(Some("EST5EDT,M3.2.0,M11.1.0"), None),
            s("/usr/share/zoneinfo/EST5EDT,M3.2.0,M11.1.0")
        );
    }

    #[test]
    fn utc_as_gmtime() {
        let u = |t: i64| utc(t).map(|l| (l.year + 1900, l.mon + 1, l.mday, l.hour, l.min, l.sec));
        assert_eq!(u(0), Some((1970, 1, 1, 0, 0, 0)));
        assert_eq!(u(-1), Some((1969, 12, 31, 23, 59, 59)));
        assert_eq!(u(951_825_600), Some((2000, 2, 29, 12, 0, 0)));
        assert_eq!(u(951_868_800), Some((2000, 3, 1, 0, 0, 0)));
        assert_eq!(u(1_700_000_000), Some((2023, 11, 14, 22, 13, 20)));
        assert_eq!(u(2_147_483_648), Some((2038, 1, 19, 3, 14, 8)));
        assert_eq!(u(-2_208_988_800), Some((1900, 1, 1, 0, 0, 0)));
        assert_eq!(u(-5_364_662_400), Some((1800, 1, 1, 0, 0, 0)));
        assert_eq!(u(-62_135_596_800), Some((1, 1, 1, 0, 0, 0)));
        assert_eq!(u(253_402_300_799), Some((9999, 12, 31, 23, 59, 59)));
        assert_eq!(u(4_107_542_400), Some((2100, 3, 1, 0, 0, 0)));
        // The last second whose year fits an int, and the first that does not.
        assert_eq!(
            u(67_768_036_191_676_799),
            Some((2_147_485_547, 12, 31, 23, 59, 59))
        );
        assert_eq!(u(67_768_036_191_676_800), None);
        assert_eq!(u(i64::MAX), None);
        assert_eq!(u(i64::MIN), None);
    }
}

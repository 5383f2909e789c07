//! The only module of the project allowed `unsafe`.
//!
//! Each block says why it is sound. Everything here is a thin wrapper over a
//! system call that `nix` exposes only as `unsafe` because of what it does to
//! the whole process (fork, signal dispositions), and [`launch`], which
//! starts a program from a child sharing our memory until it execs.

use nix::errno::Errno;
use nix::sys::signal::{self, SigHandler, Signal};
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

/// `localtime_r(3)` of Unix seconds, honouring `TZ`; `None` when the C
/// library cannot represent the time.
pub fn localtime(t: i64) -> Option<LocalTime> {
    let t: nix::libc::time_t = t;
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
    Some(LocalTime {
        year: i64::from(tm.tm_year),
        mon: tm.tm_mon as u32,
        mday: tm.tm_mday as u32,
        hour: tm.tm_hour as u32,
        min: tm.tm_min as u32,
        sec: tm.tm_sec as u32,
    })
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

/// What [`Launcher::launch`] starts: the program's candidate paths (tried in
/// order, as `pathexec` does), argv, environment, and the signals to set
/// back to their default first (those the parent ignores or catches). The
/// strings of argv and the environment are shared (`Rc`), so that a server
/// starting the same program again and again does not copy them.
pub struct LaunchSpec {
    pub candidates: Vec<std::ffi::CString>,
    pub argv: Vec<std::rc::Rc<std::ffi::CStr>>,
    pub env: Vec<std::rc::Rc<std::ffi::CStr>>,
    pub default_signals: &'static [Signal],
}

/// Why a launched program did not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchFailure {
    /// Putting the connection on fds 0 and 1 failed.
    Descriptors(Errno),
    /// No candidate could be executed; the error `pathexec` reports.
    Exec(Errno),
}

/// Stack of a launched child until it has exec'd: it runs one small
/// function making raw system calls, which was measured to use 88 bytes in
/// a release build and 816 in a debug one. Kept small, as a server under a
/// tight `softlimit -m` has little heap to spare for the children that
/// have not exec'd yet.
const LAUNCH_STACK: usize = 4 * 1024;

/// 16-byte aligned, as both architectures want a stack pointer.
const LAUNCH_STACK_LAYOUT: std::alloc::Layout =
    match std::alloc::Layout::from_size_align(LAUNCH_STACK, 16) {
        Ok(l) => l,
        Err(_) => panic!("bad launch stack layout"),
    };

/// Children that may be using our memory at once (between their clone and
/// their exec). Their stacks and pointer arrays are allocated when the
/// Launcher is made, and reused: a burst of connections does not grow the
/// heap of a server run under a tight `softlimit -m`. With this many
/// pending, `launch` first waits for one of them to exec, as posix_spawn
/// waits for every child.
const LAUNCH_MAX: usize = 4;

/// The longest `launch` waits for room; past it, `EAGAIN` (the caller
/// forks). An exec takes well under a millisecond.
const LAUNCH_WAIT: std::time::Duration = std::time::Duration::from_millis(20);

type CPtr = *const nix::libc::c_char;

/// Shared with a launched child until it leaves our address space; reused
/// for later launches once it has.
struct LaunchShared {
    fd: std::os::fd::RawFd,
    /// Null-terminated pointer arrays into the `spec` strings.
    candidates: Vec<CPtr>,
    argv: Vec<CPtr>,
    env: Vec<CPtr>,
    signals: &'static [Signal],
    /// Set to a non-zero value before the clone; the kernel writes 0 here
    /// (CLONE_CHILD_CLEARTID) when the child execs or exits, the moment it
    /// stops using our memory.
    in_use: std::sync::atomic::AtomicI32,
    /// 0, or the failure: stage << 16 | errno (stage 1 descriptors, 2 exec).
    failure: std::sync::atomic::AtomicU32,
    /// LAUNCH_STACK bytes from `alloc`, touched only by the children.
    stack: std::ptr::NonNull<u8>,
    /// Owns the strings the pointer arrays point into.
    spec: Option<LaunchSpec>,
}

impl LaunchShared {
    fn new() -> Option<Box<LaunchShared>> {
        // SAFETY: the layout has a non-zero size.
        let stack = std::ptr::NonNull::new(unsafe { std::alloc::alloc(LAUNCH_STACK_LAYOUT) })?;
        Some(Box::new(LaunchShared {
            fd: -1,
            candidates: Vec::new(),
            argv: Vec::new(),
            env: Vec::new(),
            signals: &[],
            in_use: std::sync::atomic::AtomicI32::new(0),
            failure: std::sync::atomic::AtomicU32::new(0),
            stack,
            spec: None,
        }))
    }

    /// Points the arrays at `spec`'s strings and takes it.
    fn load(&mut self, spec: LaunchSpec, fd: std::os::fd::RawFd) {
        fn fill(v: &mut Vec<CPtr>, ptrs: impl Iterator<Item = CPtr>) {
            v.clear();
            v.extend(ptrs);
            v.push(std::ptr::null());
        }
        use std::sync::atomic::Ordering::SeqCst;
        fill(
            &mut self.candidates,
            spec.candidates.iter().map(|c| c.as_ptr()),
        );
        fill(&mut self.argv, spec.argv.iter().map(|c| c.as_ptr()));
        fill(&mut self.env, spec.env.iter().map(|c| c.as_ptr()));
        self.signals = spec.default_signals;
        self.fd = fd;
        self.in_use.store(1, SeqCst);
        self.failure.store(0, SeqCst);
        self.spec = Some(spec);
    }

    /// `None` while the child may still read our memory (it has neither
    /// exec'd nor exited); then `Some(None)` if the program started, or
    /// `Some(Some(failure))`.
    fn finished(&self) -> Option<Option<LaunchFailure>> {
        use std::sync::atomic::Ordering::SeqCst;
        if self.in_use.load(SeqCst) != 0 {
            return None;
        }
        let f = self.failure.load(SeqCst);
        let e = Errno::from_raw((f & 0xffff) as i32);
        Some(match f >> 16 {
            0 => None,
            1 => Some(LaunchFailure::Descriptors(e)),
            _ => Some(LaunchFailure::Exec(e)),
        })
    }
}

impl Drop for LaunchShared {
    fn drop(&mut self) {
        // SAFETY: `stack` came from `alloc` with this layout, and a
        // LaunchShared is only dropped when no child uses it (see
        // `Launcher::drop`).
        unsafe { std::alloc::dealloc(self.stack.as_ptr(), LAUNCH_STACK_LAYOUT) };
    }
}

/// Starts programs without copying this process and without waiting for
/// their exec ([`Launcher::launch`]), and keeps what each child reads of our
/// memory until it has exec'd or exited.
pub struct Launcher {
    running: Vec<(Pid, std::ptr::NonNull<LaunchShared>)>,
    /// Failures found while making room in `launch`, for the next `sweep`.
    failed: Vec<(Pid, LaunchFailure)>,
    /// Boxed: each moves in and out of `running` as a raw pointer, and the
    /// children rely on its address.
    #[allow(clippy::vec_box)]
    spare: Vec<Box<LaunchShared>>,
}

impl Default for Launcher {
    fn default() -> Self {
        Self::new()
    }
}

impl Launcher {
    pub fn new() -> Launcher {
        Launcher {
            running: Vec::with_capacity(LAUNCH_MAX),
            failed: Vec::new(),
            spare: (0..LAUNCH_MAX)
                .filter_map(|_| LaunchShared::new())
                .collect(),
        }
    }

    /// Lets go of what the children that have exec'd or exited used, and
    /// calls `failed` for each of them that could not start. A child that
    /// has been reaped is always let go of here.
    pub fn sweep(&mut self, mut failed: impl FnMut(Pid, LaunchFailure)) {
        for (pid, f) in self.failed.drain(..) {
            failed(pid, f);
        }
        self.release(failed);
    }

    /// Waits (at most LAUNCH_WAIT in all) for a running child to leave our
    /// memory, then lets go of every finished one, until there is room.
    fn wait_for_room(&mut self) {
        let deadline = std::time::Instant::now() + LAUNCH_WAIT;
        let mut failed = std::mem::take(&mut self.failed);
        while self.running.len() >= LAUNCH_MAX {
            let Some(&(_, shared)) = self.running.first() else {
                break;
            };
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            // SAFETY: pointers in `running` are valid until released below.
            let word = unsafe { shared.as_ref() }.in_use.as_ptr();
            let ts = nix::libc::timespec {
                tv_sec: left.as_secs() as nix::libc::time_t,
                tv_nsec: left.subsec_nanos().into(),
            };
            // SAFETY: FUTEX_WAIT reads the word (ours, alive) and the
            // timespec; the kernel wakes us when it clears the word at the
            // child's exec or exit (CLONE_CHILD_CLEARTID). EAGAIN if it is
            // already 0; any error just ends this wait.
            unsafe {
                nix::libc::syscall(
                    nix::libc::SYS_futex,
                    word,
                    nix::libc::FUTEX_WAIT,
                    1,
                    &ts as *const nix::libc::timespec,
                )
            };
            self.release(|pid, f| failed.push((pid, f)));
        }
        self.failed = failed;
    }

    /// Lets go of the finished children, calling `failed` for those that
    /// could not start.
    fn release(&mut self, mut failed: impl FnMut(Pid, LaunchFailure)) {
        let mut i = 0;
        while let Some(&(pid, shared)) = self.running.get(i) {
            // SAFETY: every pointer in `running` came from Box::into_raw in
            // `launch` and is freed only below, after its removal.
            let done = unsafe { shared.as_ref() }.finished();
            let Some(failure) = done else {
                i += 1;
                continue;
            };
            self.running.swap_remove(i);
            if let Some(f) = failure {
                failed(pid, f);
            }
            // SAFETY: from Box::into_raw, removed from `running` above, and
            // the child no longer uses it (finished).
            let mut b = unsafe { Box::from_raw(shared.as_ptr()) };
            b.spec = None;
            self.spare.push(b);
        }
    }

    /// Starts a program on `fd` (as fds 0 and 1): `clone(CLONE_VM)` runs a
    /// small child on a stack of ours, which sets up the descriptors and
    /// signals and execs, while the parent goes on at once (posix_spawn
    /// would hold it until the exec, leaving a CPU idle on a busy server).
    /// The child's exit status is 111 if nothing could run; [`sweep`] then
    /// says why.
    ///
    /// `EAGAIN` if LAUNCH_MAX children are still before their exec after
    /// LAUNCH_WAIT, `ENOSYS` on architectures without the raw system calls
    /// this needs; the caller then forks. A child that could not start is
    /// reported by the next [`sweep`], even if it was let go of here.
    ///
    /// [`sweep`]: Launcher::sweep
    pub fn launch(
        &mut self,
        spec: LaunchSpec,
        fd: std::os::fd::BorrowedFd<'_>,
    ) -> Result<Pid, Errno> {
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        {
            use nix::libc;
            use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow};
            use std::os::fd::AsRawFd;
            if self.running.len() >= LAUNCH_MAX {
                self.wait_for_room();
                if self.running.len() >= LAUNCH_MAX {
                    return Err(Errno::EAGAIN);
                }
            }
            let mut b = match self.spare.pop() {
                Some(b) => b,
                None => LaunchShared::new().ok_or(Errno::ENOMEM)?,
            };
            b.load(spec, fd.as_raw_fd());
            let stack_top = b.stack.as_ptr().wrapping_add(LAUNCH_STACK);
            let shared = Box::into_raw(b);
            // The child starts with every signal blocked, so that no handler
            // of ours runs on its stack; it unblocks them once they are
            // default.
            let mut old = SigSet::empty();
            let _ = pthread_sigmask(
                SigmaskHow::SIG_SETMASK,
                Some(&SigSet::all()),
                Some(&mut old),
            );
            // SAFETY: `stack_top` is the end of LAUNCH_STACK bytes we own and
            // never touch ourselves (16-byte aligned), the child's initial
            // stack pointer. The child shares our memory but reads only
            // `*shared`, which stays allocated and unchanged until the kernel
            // clears `in_use` (CLONE_CHILD_CLEARTID, at its exec or exit; see
            // `sweep` and `drop`). It calls no libc function, so our locks,
            // heap and errno are never touched. No CLONE_FILES: the child has
            // its own descriptor table, copied here while `fd` is open.
            let pid = unsafe {
                libc::clone(
                    launch_child,
                    stack_top as *mut libc::c_void,
                    libc::CLONE_VM | libc::CLONE_CHILD_CLEARTID | libc::SIGCHLD,
                    shared as *mut libc::c_void,
                    std::ptr::null_mut::<libc::pid_t>(),
                    std::ptr::null_mut::<libc::c_void>(),
                    (*shared).in_use.as_ptr(),
                )
            };
            let err = Errno::last();
            let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
            if pid < 0 {
                // SAFETY: from Box::into_raw above; there is no child.
                let mut b = unsafe { Box::from_raw(shared) };
                b.spec = None;
                self.spare.push(b);
                return Err(err);
            }
            // SAFETY: Box::into_raw never returns null.
            let shared = unsafe { std::ptr::NonNull::new_unchecked(shared) };
            let pid = Pid::from_raw(pid);
            self.running.push((pid, shared));
            Ok(pid)
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        {
            let _ = (spec, fd);
            Err(Errno::ENOSYS)
        }
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        self.sweep(|_, _| {});
        // What is left may still be read by a child that has not exec'd:
        // it is left to it (a leak, never a use after free).
        self.running.clear();
    }
}

/// One raw system call of up to four arguments, returning the kernel's
/// value (a negative errno on failure). Unlike libc's wrappers it never
/// touches `errno`, which lives in the parent's thread-local storage that a
/// launched child shares.
#[cfg(target_arch = "x86_64")]
fn raw_syscall(n: nix::libc::c_long, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    // SAFETY: the syscall instruction with the kernel's x86_64 calling
    // convention (rax number, rdi rsi rdx r10 arguments; rcx and r11
    // clobbered). Callers pass pointers valid for what each call reads.
    unsafe {
        std::arch::asm!("syscall", inlateout("rax") n as isize => ret,
            in("rdi") a, in("rsi") b, in("rdx") c, in("r10") d,
            lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

#[cfg(target_arch = "aarch64")]
fn raw_syscall(n: nix::libc::c_long, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    // SAFETY: svc 0 with the kernel's arm64 calling convention (x8 number,
    // x0-x3 arguments, x0 result). Callers pass valid pointers.
    unsafe {
        std::arch::asm!("svc 0", in("x8") n as usize,
            inlateout("x0") a => ret, in("x1") b, in("x2") c, in("x3") d,
            options(nostack));
    }
    ret
}

/// The launched child, on its own stack in our address space: descriptors,
/// signals, then each candidate. Raw system calls only: no allocation, no
/// errno, no lock, nothing that could race with the parent, which goes on
/// running in the same memory.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
extern "C" fn launch_child(arg: *mut nix::libc::c_void) -> nix::libc::c_int {
    use nix::libc;
    use std::sync::atomic::Ordering::SeqCst;
    // SAFETY: `arg` is the LaunchShared the parent keeps alive until the
    // kernel clears `in_use`, which happens only when we exec or exit.
    let s = unsafe { &*(arg as *const LaunchShared) };
    let fail = |stage: u32, r: isize| {
        s.failure
            .store(stage << 16 | (r.unsigned_abs() as u32 & 0xffff), SeqCst);
        111
    };
    for target in [0usize, 1] {
        let r = raw_syscall(libc::SYS_dup3, s.fd as usize, target, 0, 0);
        if r < 0 {
            return fail(1, r);
        }
    }
    // A kernel sigaction of all zeros is SIG_DFL on both architectures.
    let dfl = [0u64; 4];
    for &sig in s.signals {
        raw_syscall(
            libc::SYS_rt_sigaction,
            sig as usize,
            dfl.as_ptr() as usize,
            0,
            8,
        );
    }
    let empty = 0u64;
    raw_syscall(
        libc::SYS_rt_sigprocmask,
        libc::SIG_SETMASK as usize,
        &empty as *const u64 as usize,
        0,
        8,
    );
    let (argv, envp) = (s.argv.as_ptr() as usize, s.env.as_ptr() as usize);
    // The error kept is the one `exec::Prepared::exec` keeps (pathexec's):
    // that code cannot run here (it allocates and sets errno).
    let mut remembered: isize = 0;
    for &path in s.candidates.iter().take_while(|p| !p.is_null()) {
        let r = raw_syscall(libc::SYS_execve, path as usize, argv, envp, 0);
        match -r as i32 {
            libc::ENOENT => {}
            libc::EACCES | libc::EPERM | libc::EISDIR => remembered = r,
            _ => return fail(2, r),
        }
    }
    fail(
        2,
        if remembered != 0 {
            remembered
        } else {
            -(libc::ENOENT as isize)
        },
    )
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

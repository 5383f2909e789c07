//! `multilog SCRIPT...` (spec/multilog.md).
//!
//! Reads stdin in large blocks, splits it into lines, applies the compiled
//! script to each, and appends selected lines to per-directory buffers that
//! are written out before every read: no system call per line (except for
//! `e` and `=FILE`, which are per line by nature). Exit codes: 0 at end of
//! input or after SIGTERM, 111 for any start-up failure. SIGTERM finishes
//! the line in hand; SIGALRM rotates every non-empty `current` before the
//! next read. Both are let in while the runtime waits for stdin and in
//! every retry wait, so neither is acted on late.
//!
//! Extensions (spec/extensions.md, docs/multilog.md): `T` stamps lines with
//! the local time after `t`'s stamp, and the patterns then see the line
//! after the stamps; `R<secs>` rotates a directory whose `current` has held
//! lines that long, from a deadline of the same wait; `S<bytes>` caps the
//! old files (in `logdir::finish`).

use std::ffi::OsString;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;

use common::diag::{self, errno_of};
use common::rt::{Disposition, Runtime};
use common::tai::{Tai64n, LABEL_LEN, UNIX_EPOCH_LABEL};
use nix::poll::PollFlags;
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;

use crate::find_newline;
use crate::logdir::{pause, LogDir};
use crate::script::{self, Action, Script};

/// The part of a line that patterns, `e` and `=` see (timestamp included).
pub const VISIBLE: usize = 1000;
/// Bytes a status file update writes: the visible line, `\n`-padded.
pub const STATUS_LEN: usize = 1001;
/// `e` shows at most this much of a line, then `...`.
pub const STDERR_MAX: usize = 200;
/// Input block size.
const READ_SIZE: usize = 128 * 1024;
/// The original's read size. A block is processed in pieces of this size,
/// each directory's buffer flushed between them as the original flushes
/// before each read, so that files end where the original ends them.
const C_READ: usize = 1024;

struct StatusFile {
    name: OsString,
    file: File,
}

/// The line being assembled.
struct Line {
    /// Bytes of the visible part so far (timestamp included).
    vis: Vec<u8>,
    /// A line has started (a byte or the timestamp is in `vis`).
    open: bool,
    /// The visible part is complete; the rest goes straight to the dirs.
    past_visible: bool,
    /// Bytes of stamps at the start of `vis`.
    stamps: usize,
    /// Per directory: the line is selected for it.
    sel: Vec<bool>,
}

struct Multilog {
    rt: Runtime,
    script: Script,
    dirs: Vec<LogDir>,
    status: Vec<StatusFile>,
    line: Line,
    /// Last clock reading and its label, reused while the clock stands still.
    last_time: (Tai64n, [u8; LABEL_LEN]),
    /// `T`: the Unix second last rendered and its `YYYY-MM-DD HH:MM:SS.`.
    local: (i64, Vec<u8>),
}

pub fn main(args: &[OsString]) -> i32 {
    diag::set_program("multilog");
    nix::sys::stat::umask(Mode::from_bits_truncate(0o022));
    if let Err(e) = File::open(".") {
        diag::fatal_sys(&[&"unable to switch to current directory"], errno_of(&e));
    }
    let script = script::compile(args.get(1..).unwrap_or(&[]));
    let mut rt = Runtime::new(&[
        (Signal::SIGTERM, Disposition::Catch),
        (Signal::SIGALRM, Disposition::Catch),
        (Signal::SIGCHLD, Disposition::Catch),
    ])
    .unwrap_or_else(|e| diag::fatal_sys(&[&"unable to create pipe"], e));

    let mut status = Vec::new();
    for name in &script.status_files {
        // Non-blocking opens: a FIFO in place of the status file fails at
        // once (no reader: "device not configured") instead of hanging.
        if let Err(e) = common::file::open_append(name, 0o600) {
            diag::fatal_sys(&[&"unable to create ", name], errno_of(&e));
        }
        let file = common::file::open_write(name)
            .unwrap_or_else(|e| diag::fatal_sys(&[&"unable to write ", name], errno_of(&e)));
        status.push(StatusFile {
            name: name.clone(),
            file,
        });
    }
    let dirs: Vec<LogDir> = script
        .dirs
        .iter()
        .cloned()
        .map(|d| LogDir::open(d, &mut rt))
        .collect();
    let n = dirs.len();
    let mut m = Multilog {
        rt,
        script,
        dirs,
        status,
        line: Line {
            vis: Vec::with_capacity(VISIBLE),
            open: false,
            past_visible: false,
            stamps: 0,
            sel: vec![false; n],
        },
        last_time: (Tai64n::default(), Tai64n::default().label()),
        local: (i64::MIN, Vec::new()),
    };

    // Unbuffered: a buffered reader would take more than the one byte at a
    // time that SIGTERM asks for, and hide it from poll. Read in place, not
    // through a duplicate: a descriptor fewer under a tight limit, where
    // each log directory holds three.
    let mut input = common::file::stdin();
    let mut buf = vec![0u8; READ_SIZE];
    let mut terminating = false;
    loop {
        for d in &mut m.dirs {
            d.flush(&mut m.rt);
        }
        // A block of input is fully processed before signals are looked at.
        if m.rt.take(Signal::SIGALRM) {
            for d in &mut m.dirs {
                if !d.is_empty() {
                    d.rotate(&mut m.rt);
                }
            }
        }
        // R: a current that has held lines long enough, input or not.
        for d in &mut m.dirs {
            if d.rotation_is_due() {
                d.rotate(&mut m.rt);
            }
        }
        // Left pending, not taken: every step from here on (a processor
        // that fails, a status file that cannot be written) knows that
        // TERM has come.
        if m.rt.pending(Signal::SIGTERM) {
            terminating = true;
        }
        if terminating && !m.line.open {
            break;
        }
        // After TERM, read one byte at a time to the end of the line in hand,
        // leaving the rest of the input for whoever reads next.
        let want = if terminating { 1 } else { READ_SIZE };
        // Wait for input, a signal or an R deadline; a signal while idle
        // acts at once.
        let deadline = m.dirs.iter().filter_map(LogDir::rotation_due).min();
        let wake = m.rt.wait(&[(input.as_fd(), PollFlags::POLLIN)], deadline);
        if !wake.ready(0) {
            continue;
        }
        match input.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => m.feed(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted || e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => break,
        }
    }
    // End of input: a partial line counts as a line.
    if m.line.open {
        m.end_line();
    }
    for d in &mut m.dirs {
        d.close(&mut m.rt);
    }
    0
}

impl Multilog {
    fn label(&mut self, now: Tai64n) -> [u8; LABEL_LEN] {
        if now != self.last_time.0 {
            self.last_time = (now, now.label());
        }
        self.last_time.1
    }

    fn start_line(&mut self) {
        self.line.open = true;
        self.line.past_visible = false;
        self.line.vis.clear();
        if self.script.timestamp || self.script.local_stamp {
            let now = Tai64n::now();
            if self.script.timestamp {
                let l = self.label(now);
                self.line.vis.extend_from_slice(&l);
                self.line.vis.push(b' ');
            }
            if self.script.local_stamp {
                self.local_stamp(now);
            }
        }
        self.line.stamps = self.line.vis.len();
    }

    /// Appends `YYYY-MM-DD HH:MM:SS.NNNNNNNNN ` for the clock reading of
    /// the line, in local time, as tai64nlocal renders its label.
    fn local_stamp(&mut self, t: Tai64n) {
        let unix = t.secs.wrapping_sub(UNIX_EPOCH_LABEL) as i64;
        if self.local.0 != unix {
            let text = match common::sys::localtime(unix) {
                Some(lt) => format!(
                    "{}-{:02}-{:02} {:02}:{:02}:{:02}.",
                    1900 + lt.year,
                    lt.mon + 1,
                    lt.mday,
                    lt.hour,
                    lt.min,
                    lt.sec
                ),
                None => String::from("????-??-?? ??:??:??."),
            };
            self.local = (unix, text.into_bytes());
        }
        self.line.vis.extend_from_slice(&self.local.1);
        let mut n = t.nanos;
        let mut digits = [b'0'; 9];
        for d in digits.iter_mut().rev() {
            *d = b'0' + (n % 10) as u8;
            n /= 10;
        }
        self.line.vis.extend_from_slice(&digits);
        self.line.vis.push(b' ');
    }

    /// Processes a block of input.
    fn feed(&mut self, data: &[u8]) {
        for (k, piece) in data.chunks(C_READ).enumerate() {
            if k > 0 {
                for d in &mut self.dirs {
                    d.flush_block(&mut self.rt);
                }
            }
            self.feed_piece(piece);
        }
    }

    /// Processes what one read of the original would have returned.
    fn feed_piece(&mut self, data: &[u8]) {
        let mut i = 0;
        while i < data.len() {
            if !self.line.open {
                self.start_line();
            }
            let rest = &data[i..];
            if !self.line.past_visible {
                let room = VISIBLE - self.line.vis.len();
                let lim = room.min(rest.len());
                if let Some(p) = find_newline(&rest[..lim]) {
                    self.line.vis.extend_from_slice(&rest[..p]);
                    i += p + 1;
                    self.end_line();
                    continue;
                }
                self.line.vis.extend_from_slice(&rest[..lim]);
                i += lim;
                if self.line.vis.len() == VISIBLE {
                    self.end_visible();
                }
            } else {
                let (body, end) = match find_newline(rest) {
                    Some(p) => (&rest[..p], Some(p + 1)),
                    None => (rest, None),
                };
                for (d, &sel) in self.dirs.iter_mut().zip(&self.line.sel) {
                    if sel {
                        d.put_bytes(body, &mut self.rt);
                    }
                }
                match end {
                    Some(e) => {
                        i += e;
                        self.end_line();
                    }
                    None => i = data.len(),
                }
            }
        }
    }

    /// The visible part is complete: apply the script.
    fn end_visible(&mut self) {
        self.line.past_visible = true;
        let vis = &self.line.vis;
        // With T, the patterns see the line after the stamps; without, as
        // the original: `t`'s stamp included.
        let text = if self.script.local_stamp {
            &vis[self.line.stamps..]
        } else {
            &vis[..]
        };
        let mut selected = true;
        for a in &self.script.actions {
            match a {
                Action::Deselect(p) => {
                    if selected && crate::pattern::matches(p, text) {
                        selected = false;
                    }
                }
                Action::Select(p) => {
                    if !selected && crate::pattern::matches(p, text) {
                        selected = true;
                    }
                }
                Action::Stderr => {
                    if selected {
                        let mut v = Vec::with_capacity(STDERR_MAX + 4);
                        if vis.len() > STDERR_MAX {
                            v.extend_from_slice(&vis[..STDERR_MAX]);
                            v.extend_from_slice(b"...");
                        } else {
                            v.extend_from_slice(vis);
                        }
                        v.push(b'\n');
                        let _ = std::io::stderr().lock().write_all(&v);
                    }
                }
                Action::Status(i) => {
                    if selected {
                        let mut v = [b'\n'; STATUS_LEN];
                        v[..vis.len()].copy_from_slice(vis);
                        let sf = &self.status[*i];
                        loop {
                            match sf.file.write_all_at(&v, 0) {
                                Ok(()) => break,
                                // Once TERM has come, the status file's copy
                                // of the line is given up: multilog is about
                                // to exit, and the line goes on to the logs.
                                Err(e) if self.rt.pending(Signal::SIGTERM) => {
                                    let parts: [&dyn diag::Part; 3] =
                                        [&"unable to write ", &sf.name, &", leaving it"];
                                    diag::warn_sys(&parts, errno_of(&e));
                                    break;
                                }
                                Err(e) => pause(
                                    &mut self.rt,
                                    &[&"unable to write ", &sf.name],
                                    Some(errno_of(&e)),
                                ),
                            }
                        }
                    }
                }
                Action::Dir(i) => self.line.sel[*i] = selected,
            }
        }
        for (d, &sel) in self.dirs.iter_mut().zip(&self.line.sel) {
            if sel {
                d.put(vis, &mut self.rt);
            }
        }
    }

    fn end_line(&mut self) {
        if !self.line.past_visible {
            self.end_visible();
        }
        for (d, &sel) in self.dirs.iter_mut().zip(&self.line.sel) {
            if sel {
                d.put(b"\n", &mut self.rt);
            }
        }
        self.line.open = false;
    }
}

//! Formats and process plumbing shared by every program of the project.
//!
//! - [`diag`]: program name, fatal/warning/usage lines, the classic errno
//!   wording, exit codes 100 and 111.
//! - [`args`]: the small getopt of the originals.
//! - [`tai`]: TAI64 and TAI64N labels.
//! - [`status`]: the 18-byte `supervise/status` record.
//! - [`control`]: supervise's control bytes, FIFO paths and liveness test.
//! - [`xstatus`]: the `supervise/xstatus` sidecar (readiness, last exit).
//! - [`fifodir`]: the `supervise/event` fifodir: publishing and subscribing.
//! - [`cdb`]: the constant database of tcpserver's rules.
//! - [`rules`]: the tcprules grammar, ranges, value encoding, lookup order.
//! - [`exec`]: `pathexec`: PATH search and environment edits before `execve`.
//! - [`file`](mod@file): the non-blocking opens of the originals (open_read, open_append).
//! - [`rt`]: the runtime of every daemon: signals, event loop, deadlines,
//!   back-off, spawner, reaper.
//! - [`sys`]: the only module where `unsafe_code` is allowed.
#![deny(unsafe_code)]

pub mod args;
pub mod cdb;
pub mod control;
pub mod diag;
pub mod exec;
pub mod fifodir;
pub mod file;
pub mod rt;
pub mod rules;
pub mod status;
#[allow(unsafe_code)]
pub mod sys;
pub mod tai;
pub mod xstatus;

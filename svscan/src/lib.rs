//! svscan (one supervise per service directory, log pipes) and
//! readproctitle (recent error output shown in `ps`). svscanboot is the shell
//! script `svscan/svscanboot`, installed beside the binaries.

pub mod readproctitle;
pub mod scan;

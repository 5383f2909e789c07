//! supervise's state and its transitions, without any I/O.
//!
//! [`State::step`] takes an [`Event`] (a control byte, a child's exit, the
//! result of a start, the deadline) and the current time, updates the state
//! and returns the [`Action`]s the caller must carry out, in order. The
//! caller reports the outcome of [`Action::Start`] back as [`Event::Started`],
//! [`Event::RunFailed`] or [`Event::ForkFailed`]. Where `./run` is in its
//! life is a [`Phase`], an enum of the combinations that can exist.
//!
//! Two deliberate differences from the C supervise (docs/divergences.md):
//! the one-start-per-second throttle and the fork-failure back-off are a
//! deadline ([`State::deadline`]) instead of a sleep, so every command is
//! acted on at once, also while a restart is pending; and `d` or `x` sent
//! while a restart is pending cancel it.

use std::time::Duration;

use common::control::Command;
use common::status::{self, Status};
use common::tai::Tai64n;
use nix::sys::signal::Signal;

/// At most one start per this interval: the original sleeps one second
/// after every start, its only restart throttle.
pub const START_INTERVAL: Duration = Duration::from_secs(1);

/// After a failed fork, the next attempt (Debian patch 0003) comes this long
/// after: the original sleeps 60 seconds.
pub const FORK_RETRY: Duration = Duration::from_secs(60);

/// What the service should be doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Run, restart when it exits (`u`, no `down` file).
    Up,
    /// Stay down (`d`, `down` file).
    Down,
    /// Run once, do not restart (`o`).
    Once,
}

/// The current time: monotonic for deadlines, wall clock for the status.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// Monotonic time since supervise started.
    pub mono: Duration,
    /// Wall clock, for the status record.
    pub wall: Tai64n,
}

/// Something that happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A control byte was read.
    Command(Command),
    /// A child with this pid was reaped.
    Exited(u32),
    /// [`Action::Start`] started this pid.
    Started(u32),
    /// [`Action::Start`] could not run `./run` (the caller has said why,
    /// as the original's child does): as a child that exited at once, the
    /// next start comes after the throttle.
    RunFailed,
    /// [`Action::Start`] could not make a process (the caller has warned,
    /// with the errno); a retry is scheduled when the service is wanted up.
    ForkFailed,
    /// [`State::deadline`] has passed.
    Timer,
}

/// Something the caller must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start `./run`; report [`Event::Started`], [`Event::RunFailed`] or
    /// [`Event::ForkFailed`].
    Start,
    /// Send this signal to the running `./run`.
    Signal(u32, Signal),
    /// Write the status record ([`State::status`]).
    Announce,
    /// Announce once more and exit 0.
    Exit,
}

/// Whether `./run` runs, as the states that can exist: paused only while
/// running, a start due only while down, an exit pending only while
/// running (down, `x` exits at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Nothing runs and no start is due.
    Down,
    /// Nothing runs; a start is due at this (monotonic) time.
    StartDue(Duration),
    /// `./run` runs with this pid.
    Running {
        pid: u32,
        /// Stopped by `p`.
        paused: bool,
        /// `x` was received: exit once it has exited.
        exit_after: bool,
    },
}

/// supervise's whole state.
#[derive(Debug, Clone)]
pub struct State {
    pub phase: Phase,
    pub want: Want,
    /// Time of the last pid change (and of start-up).
    pub stamp: Tai64n,
    /// Monotonic time of the last start, for the throttle.
    last_start: Option<Duration>,
}

impl State {
    /// The state at start-up: want down if the `down` file exists.
    pub fn new(normally_down: bool, now: Now) -> Self {
        State {
            phase: Phase::Down,
            want: if normally_down { Want::Down } else { Want::Up },
            stamp: now.wall,
            last_start: None,
        }
    }

    /// Pid of the running `./run`; 0 when down.
    pub fn pid(&self) -> u32 {
        match self.phase {
            Phase::Running { pid, .. } => pid,
            _ => 0,
        }
    }

    pub fn paused(&self) -> bool {
        matches!(self.phase, Phase::Running { paused: true, .. })
    }

    /// The actions to take right after start-up (the status of [`State::new`]
    /// is already written): start unless normally down.
    pub fn boot(&mut self, now: Now) -> Vec<Action> {
        let mut out = Vec::new();
        if self.want == Want::Up {
            self.request_start(now, &mut out);
        }
        out
    }

    /// When the caller must send [`Event::Timer`], if ever.
    pub fn deadline(&self) -> Option<Duration> {
        match self.phase {
            Phase::StartDue(t) => Some(t),
            _ => None,
        }
    }

    /// The status record of this state.
    pub fn status(&self) -> Status {
        Status {
            stamp: self.stamp,
            pid: self.pid(),
            paused: self.paused(),
            want: match self.want {
                Want::Up => status::WANT_UP,
                Want::Down => status::WANT_DOWN,
                Want::Once => status::WANT_NONE,
            },
        }
    }

    /// While down: starts now if the throttle allows, else schedules it.
    fn request_start(&mut self, now: Now, out: &mut Vec<Action>) {
        let earliest = self
            .last_start
            .map_or(Duration::ZERO, |t| t + START_INTERVAL);
        if now.mono >= earliest {
            self.phase = Phase::Down;
            out.push(Action::Start);
        } else {
            self.phase = Phase::StartDue(earliest);
        }
    }

    fn signal(&self, sig: Signal, out: &mut Vec<Action>) {
        if let Phase::Running { pid, .. } = self.phase {
            out.push(Action::Signal(pid, sig));
        }
    }

    /// The transition function.
    pub fn step(&mut self, now: Now, ev: Event) -> Vec<Action> {
        let mut out = Vec::new();
        match ev {
            Event::Command(c) => self.command(now, c, &mut out),
            Event::Exited(pid) => {
                if let Phase::Running {
                    pid: p, exit_after, ..
                } = self.phase
                {
                    if pid != 0 && pid == p {
                        self.phase = Phase::Down;
                        self.stamp = now.wall;
                        out.push(Action::Announce);
                        if exit_after {
                            out.push(Action::Exit);
                        } else if self.want == Want::Up {
                            self.request_start(now, &mut out);
                        }
                    }
                }
            }
            Event::Started(pid) => {
                self.phase = Phase::Running {
                    pid,
                    paused: false,
                    exit_after: false,
                };
                self.stamp = now.wall;
                self.last_start = Some(now.mono);
                out.push(Action::Announce);
            }
            Event::RunFailed => {
                // What a reader of the original's status sees after a child
                // that could not exec: down since just now, next try after
                // the throttle.
                self.phase = Phase::Down;
                self.stamp = now.wall;
                self.last_start = Some(now.mono);
                out.push(Action::Announce);
                if self.want == Want::Up {
                    self.request_start(now, &mut out);
                }
            }
            Event::ForkFailed => {
                if self.want == Want::Up {
                    self.phase = Phase::StartDue(now.mono + FORK_RETRY);
                }
            }
            Event::Timer => {
                if let Phase::StartDue(t) = self.phase {
                    if now.mono >= t {
                        self.phase = Phase::Down;
                        out.push(Action::Start);
                    }
                }
            }
        }
        out
    }

    fn command(&mut self, now: Now, c: Command, out: &mut Vec<Action>) {
        match c {
            Command::Up | Command::Once => {
                self.want = if c == Command::Up {
                    Want::Up
                } else {
                    Want::Once
                };
                out.push(Action::Announce);
                if self.phase == Phase::Down {
                    self.request_start(now, out);
                }
            }
            Command::Down => {
                self.want = Want::Down;
                if let Phase::StartDue(_) = self.phase {
                    self.phase = Phase::Down;
                }
                self.signal(Signal::SIGTERM, out);
                self.signal(Signal::SIGCONT, out);
                if let Phase::Running { paused, .. } = &mut self.phase {
                    *paused = false;
                }
                out.push(Action::Announce);
            }
            Command::Pause => {
                if let Phase::Running { paused, .. } = &mut self.phase {
                    *paused = true;
                }
                out.push(Action::Announce);
                self.signal(Signal::SIGSTOP, out);
            }
            Command::Continue => {
                if let Phase::Running { paused, .. } = &mut self.phase {
                    *paused = false;
                }
                out.push(Action::Announce);
                self.signal(Signal::SIGCONT, out);
            }
            Command::Hup => self.signal(Signal::SIGHUP, out),
            Command::Alarm => self.signal(Signal::SIGALRM, out),
            Command::Interrupt => self.signal(Signal::SIGINT, out),
            Command::Term => self.signal(Signal::SIGTERM, out),
            Command::Kill => self.signal(Signal::SIGKILL, out),
            Command::Exit => {
                out.push(Action::Announce);
                match &mut self.phase {
                    Phase::Running { exit_after, .. } => *exit_after = true,
                    _ => {
                        self.phase = Phase::Down;
                        out.push(Action::Exit);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Now {
        Now {
            mono: Duration::from_millis(ms),
            wall: Tai64n::from_unix(1_700_000_000 + (ms / 1000) as i64, 0),
        }
    }

    /// Boots a state that is up with pid 100 at time 0.
    fn running() -> State {
        let mut s = State::new(false, at(0));
        assert_eq!(s.boot(at(0)), vec![Action::Start]);
        assert_eq!(s.step(at(0), Event::Started(100)), vec![Action::Announce]);
        s
    }

    fn cmd(s: &mut State, ms: u64, b: u8) -> Vec<Action> {
        s.step(at(ms), Event::Command(Command::from_byte(b).unwrap()))
    }

    #[test]
    fn normally_down_does_not_start() {
        let mut s = State::new(true, at(0));
        assert_eq!(s.boot(at(0)), vec![]);
        assert_eq!(s.status().encode()[17], b'd');
        assert_eq!(cmd(&mut s, 5, b'u'), vec![Action::Announce, Action::Start]);
    }

    #[test]
    fn crash_restart_is_throttled_by_deadline() {
        let mut s = running();
        // Dies after 200 ms: announced down, restart due at 1 s.
        assert_eq!(s.step(at(200), Event::Exited(100)), vec![Action::Announce]);
        assert_eq!(s.pid(), 0);
        assert_eq!(s.deadline(), Some(Duration::from_secs(1)));
        assert_eq!(s.step(at(999), Event::Timer), vec![]);
        assert_eq!(s.step(at(1000), Event::Timer), vec![Action::Start]);
        assert_eq!(s.deadline(), None);
    }

    #[test]
    fn late_exit_restarts_at_once() {
        let mut s = running();
        assert_eq!(
            s.step(at(5000), Event::Exited(100)),
            vec![Action::Announce, Action::Start]
        );
    }

    #[test]
    fn down_during_pending_restart_cancels_it() {
        let mut s = running();
        s.step(at(10), Event::Exited(100));
        assert!(s.deadline().is_some());
        assert_eq!(cmd(&mut s, 20, b'd'), vec![Action::Announce]);
        assert_eq!(s.deadline(), None);
        assert_eq!(s.step(at(1000), Event::Timer), vec![]);
        assert_eq!(s.status().encode()[17], b'd');
    }

    #[test]
    fn commands_act_at_once_after_a_start() {
        // The original sleeps a second after each start; here a kill sent
        // 10 ms after the start reaches the child at once.
        let mut s = running();
        assert_eq!(
            cmd(&mut s, 10, b'k'),
            vec![Action::Signal(100, Signal::SIGKILL)]
        );
        assert_eq!(
            cmd(&mut s, 11, b'd'),
            vec![
                Action::Signal(100, Signal::SIGTERM),
                Action::Signal(100, Signal::SIGCONT),
                Action::Announce
            ]
        );
        assert_eq!(s.step(at(12), Event::Exited(100)), vec![Action::Announce]);
        assert_eq!(s.deadline(), None);
    }

    #[test]
    fn signals_only_while_running() {
        let mut s = running();
        for (b, sig) in [
            (b'h', Signal::SIGHUP),
            (b'a', Signal::SIGALRM),
            (b'i', Signal::SIGINT),
            (b't', Signal::SIGTERM),
            (b'k', Signal::SIGKILL),
        ] {
            assert_eq!(cmd(&mut s, 1, b), vec![Action::Signal(100, sig)]);
        }
        cmd(&mut s, 1, b'd');
        s.step(at(2), Event::Exited(100));
        for b in *b"haitk" {
            assert_eq!(cmd(&mut s, 3, b), vec![]);
        }
    }

    #[test]
    fn pause_and_continue() {
        let mut s = running();
        assert_eq!(
            cmd(&mut s, 1, b'p'),
            vec![Action::Announce, Action::Signal(100, Signal::SIGSTOP)]
        );
        assert_eq!(s.status().encode()[16], 1);
        // t leaves it stopped; only d and c send CONT.
        assert_eq!(
            cmd(&mut s, 2, b't'),
            vec![Action::Signal(100, Signal::SIGTERM)]
        );
        assert!(s.paused());
        assert_eq!(
            cmd(&mut s, 3, b'c'),
            vec![Action::Announce, Action::Signal(100, Signal::SIGCONT)]
        );
        assert_eq!(s.status().encode()[16], 0);
    }

    #[test]
    fn pause_while_down_is_cleared_by_the_next_start() {
        let mut s = State::new(true, at(0));
        s.boot(at(0));
        assert_eq!(cmd(&mut s, 1, b'p'), vec![Action::Announce]);
        assert_eq!(s.status().encode()[16], 0);
        cmd(&mut s, 2, b'u');
        s.step(at(2), Event::Started(7));
        assert!(!s.paused());
    }

    #[test]
    fn once_does_not_restart() {
        let mut s = running();
        assert_eq!(cmd(&mut s, 1, b'o'), vec![Action::Announce]);
        assert_eq!(s.status().encode()[17], 0);
        assert_eq!(s.step(at(5000), Event::Exited(100)), vec![Action::Announce]);
        assert_eq!(s.deadline(), None);
        // o while down starts it, once.
        assert_eq!(
            cmd(&mut s, 6000, b'o'),
            vec![Action::Announce, Action::Start]
        );
    }

    #[test]
    fn exit_waits_for_the_child() {
        let mut s = running();
        assert_eq!(cmd(&mut s, 1, b'x'), vec![Action::Announce]);
        assert_eq!(
            s.step(at(2), Event::Exited(100)),
            vec![Action::Announce, Action::Exit]
        );
        let mut s = State::new(true, at(0));
        s.boot(at(0));
        assert_eq!(cmd(&mut s, 1, b'x'), vec![Action::Announce, Action::Exit]);
    }

    #[test]
    fn exit_during_pending_restart() {
        let mut s = running();
        s.step(at(10), Event::Exited(100));
        assert_eq!(cmd(&mut s, 20, b'x'), vec![Action::Announce, Action::Exit]);
    }

    #[test]
    fn up_while_running_or_pending_only_announces() {
        let mut s = running();
        assert_eq!(cmd(&mut s, 1, b'u'), vec![Action::Announce]);
        s.step(at(10), Event::Exited(100));
        assert_eq!(cmd(&mut s, 20, b'u'), vec![Action::Announce]);
        assert_eq!(s.deadline(), Some(Duration::from_secs(1)));
    }

    #[test]
    fn fork_failure_retries_after_a_minute() {
        let mut s = State::new(false, at(0));
        s.boot(at(0));
        assert_eq!(s.step(at(0), Event::ForkFailed), vec![]);
        assert_eq!(s.deadline(), Some(FORK_RETRY));
        assert_eq!(s.step(at(59_999), Event::Timer), vec![]);
        // d during the back-off is obeyed at once and cancels the retry.
        let mut t = s.clone();
        assert_eq!(cmd(&mut t, 100, b'd'), vec![Action::Announce]);
        assert_eq!(t.deadline(), None);
        assert_eq!(s.step(at(60_000), Event::Timer), vec![Action::Start]);
    }

    #[test]
    fn unknown_pid_is_ignored() {
        let mut s = running();
        assert_eq!(s.step(at(1), Event::Exited(555)), vec![]);
        assert_eq!(s.pid(), 100);
    }

    #[test]
    fn status_stamp_follows_pid_changes() {
        let mut s = running();
        let t0 = s.stamp;
        cmd(&mut s, 3000, b'h');
        assert_eq!(s.stamp, t0);
        s.step(at(3000), Event::Exited(100));
        assert_eq!(s.stamp, at(3000).wall);
        let b = s.status().encode();
        assert_eq!(&b[12..16], &[0, 0, 0, 0]);
        assert_eq!(b[17], b'u');
    }

    #[test]
    fn run_that_cannot_start_is_down_since_now_and_retried_after_the_throttle() {
        let mut s = State::new(false, at(0));
        assert_eq!(s.boot(at(0)), vec![Action::Start]);
        assert_eq!(s.step(at(0), Event::RunFailed), vec![Action::Announce]);
        assert_eq!(s.phase, Phase::StartDue(START_INTERVAL));
        assert_eq!(s.step(at(1000), Event::Timer), vec![Action::Start]);
        assert_eq!(s.step(at(1500), Event::RunFailed), vec![Action::Announce]);
        assert_eq!(s.stamp, at(1500).wall);
        assert_eq!(s.deadline(), Some(Duration::from_millis(2500)));
        // Wanted down, it stays down.
        let mut o = State::new(true, at(0));
        cmd(&mut o, 1, b'o');
        assert_eq!(o.step(at(1), Event::RunFailed), vec![Action::Announce]);
        assert_eq!(o.phase, Phase::Down);
    }

    #[test]
    fn the_phase_holds_only_states_that_exist() {
        // Paused exists only while running; a start due only while down; an
        // exit pending only while running.
        let mut s = running();
        cmd(&mut s, 1, b'p');
        assert_eq!(
            s.phase,
            Phase::Running {
                pid: 100,
                paused: true,
                exit_after: false
            }
        );
        cmd(&mut s, 2, b'x');
        assert_eq!(
            s.phase,
            Phase::Running {
                pid: 100,
                paused: true,
                exit_after: true
            }
        );
        assert_eq!(
            s.step(at(3), Event::Exited(100)),
            vec![Action::Announce, Action::Exit]
        );
        assert_eq!(s.phase, Phase::Down);
        assert!(!s.paused());
        let mut d = State::new(true, at(0));
        cmd(&mut d, 1, b'p');
        assert_eq!(d.phase, Phase::Down);
        cmd(&mut d, 2, b'u');
        d.step(at(2), Event::Started(7));
        d.step(at(3), Event::Exited(7));
        assert_eq!(d.phase, Phase::StartDue(Duration::from_millis(1002)));
        cmd(&mut d, 4, b'd');
        assert_eq!(d.phase, Phase::Down);
    }
}

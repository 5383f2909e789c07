//! supervise's state and its transitions, without any I/O.
//!
//! [`State::step`] takes an [`Event`] (a control byte, a child's exit, the
//! result of a start, readiness, the deadline) and the current time, updates
//! the state and returns the [`Action`]s the caller must carry out, in
//! order. The caller reports the outcome of [`Action::Start`] back as
//! [`Event::Started`], [`Event::RunFailed`] or [`Event::ForkFailed`], and of
//! [`Action::Finish`] as [`Event::FinishStarted`] or [`Event::NoFinish`].
//! Where `./run` is in its life is a [`Phase`], an enum of the combinations
//! that can exist.
//!
//! Two deliberate differences from the C supervise (docs/divergences.md):
//! the one-start-per-second throttle and the fork-failure back-off are a
//! deadline ([`State::deadline`]) instead of a sleep, so every command is
//! acted on at once, also while a restart is pending; and `d` or `x` sent
//! while a restart is pending cancel it.
//!
//! The extensions (spec/extensions.md, docs/events.md) live here too:
//! readiness, `finish` and its time limit, exit 125 as permanent failure,
//! `down-signal` and `timeout-kill`, and the event bytes. Without their
//! files the status and its timing are the original's: `finish` absent is
//! [`Event::NoFinish`] at once, and readiness never comes.

use std::time::Duration;

use common::control::Command;
use common::rt::Ended;
use common::status::{self, Status};
use common::tai::Tai64n;
use common::xstatus::{Exit, XStatus};
use nix::sys::signal::Signal;

/// At most one start per this interval: the original sleeps one second
/// after every start, its only restart throttle.
pub const START_INTERVAL: Duration = Duration::from_secs(1);

/// After a failed fork, the next attempt (Debian patch 0003) comes this long
/// after: the original sleeps 60 seconds.
pub const FORK_RETRY: Duration = Duration::from_secs(60);

/// The exit code of `finish` that means "do not restart".
pub const PERMANENT_FAILURE: i32 = 125;

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
    /// A child with this pid was reaped, with this wait status.
    Exited(u32, i32),
    /// [`Action::Start`] started this pid.
    Started(u32),
    /// [`Action::Start`] could not run `./run` (the caller has said why,
    /// as the original's child does): as a child that exited at once, the
    /// next start comes after the throttle.
    RunFailed,
    /// [`Action::Start`] could not make a process (the caller has warned,
    /// with the errno); a retry is scheduled when the service is wanted up.
    ForkFailed,
    /// `./run` wrote a line to its notification descriptor.
    Ready,
    /// [`Action::Finish`] started `./finish` with this pid, to be killed
    /// after this long (`None`: no limit).
    FinishStarted(u32, Option<Duration>),
    /// [`Action::Finish`] found no `./finish`, or could not start it.
    NoFinish,
    /// [`State::deadline`] has passed.
    Timer,
}

/// Something the caller must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start `./run`; report [`Event::Started`], [`Event::RunFailed`] or
    /// [`Event::ForkFailed`].
    Start,
    /// Send this signal (a number: `down-signal` may name a real-time one)
    /// to this pid (`./run`, or `./finish` past its time).
    Signal(u32, i32),
    /// Write the status record ([`State::status`]).
    Announce,
    /// Run `./finish CODE SIGNAL` if there is one; report
    /// [`Event::FinishStarted`] or [`Event::NoFinish`].
    Finish(u16, u8),
    /// Bring the sidecar ([`State::xstatus`]) up to date, then write this
    /// byte to every subscriber of the event fifodir.
    Publish(u8),
    /// Announce once more and exit 0.
    Exit,
}

/// Whether `./run` runs, as the states that can exist: paused only while
/// running, a start due only while down, an exit pending only while
/// something runs (down, `x` exits at once).
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
        /// `d` was sent and `timeout-kill` set: KILL at this time.
        kill_at: Option<Duration>,
    },
    /// `./run` has exited and `./finish` runs with this pid (0 until
    /// [`Event::FinishStarted`]); the status says down.
    Finishing {
        pid: u32,
        exit_after: bool,
        /// `o` came meanwhile: start once when finish is done.
        once: bool,
        /// `timeout-finish`: KILL at this time.
        kill_at: Option<Duration>,
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
    /// When the running `./run` said it was ready.
    pub ready: Option<Tai64n>,
    /// How `./run` last ended.
    pub last_exit: Option<Exit>,
    /// Starts of `./run` since supervise started.
    starts: u32,
    /// `finish` exited 125; cleared by the next start.
    pub permanent_failure: bool,
    /// What `d` sends (`down-signal`; TERM by default). The caller sets it
    /// before it hands over a `d`.
    pub down_signal: i32,
    /// KILL this long after `d` if `./run` still runs (`timeout-kill`).
    pub timeout_kill: Option<Duration>,
}

impl State {
    /// The state at start-up: want down if the `down` file exists.
    pub fn new(normally_down: bool, now: Now) -> Self {
        State {
            phase: Phase::Down,
            want: if normally_down { Want::Down } else { Want::Up },
            stamp: now.wall,
            last_start: None,
            ready: None,
            last_exit: None,
            starts: 0,
            permanent_failure: false,
            down_signal: Signal::SIGTERM as i32,
            timeout_kill: None,
        }
    }

    /// Pid of the running `./run`; 0 when down (also while `finish` runs).
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
            Phase::Running { kill_at, .. } | Phase::Finishing { kill_at, .. } => kill_at,
            Phase::Down => None,
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

    /// The sidecar record of this state.
    pub fn xstatus(&self) -> XStatus {
        XStatus {
            pid: self.pid(),
            ready: self.ready,
            last_exit: self.last_exit,
            restarts: self.starts.saturating_sub(1),
            permanent_failure: self.permanent_failure,
            finishing: matches!(self.phase, Phase::Finishing { .. }),
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
        self.signal_number(sig as i32, out);
    }

    fn signal_number(&self, sig: i32, out: &mut Vec<Action>) {
        if let Phase::Running { pid, .. } = self.phase {
            out.push(Action::Signal(pid, sig));
        }
    }

    /// `./finish` is done (or there was none): `D`, and `O` before it when
    /// it asked for no restart; then exit, restart or stay down.
    fn finish_done(&mut self, now: Now, permanent: bool, out: &mut Vec<Action>) {
        let Phase::Finishing {
            exit_after, once, ..
        } = self.phase
        else {
            return;
        };
        self.phase = Phase::Down;
        if permanent {
            self.permanent_failure = true;
            self.want = Want::Down;
            out.push(Action::Announce);
            out.push(Action::Publish(b'O'));
        }
        out.push(Action::Publish(b'D'));
        if exit_after {
            out.push(Action::Exit);
        } else if self.want == Want::Up || (once && self.want == Want::Once) {
            self.request_start(now, out);
        }
    }

    /// The transition function.
    pub fn step(&mut self, now: Now, ev: Event) -> Vec<Action> {
        let mut out = Vec::new();
        match ev {
            Event::Command(c) => self.command(now, c, &mut out),
            Event::Exited(pid, wstat) => match self.phase {
                Phase::Running {
                    pid: p, exit_after, ..
                } if pid != 0 && pid == p => {
                    let e = Exit::from_wstat(now.wall, wstat);
                    self.phase = Phase::Finishing {
                        pid: 0,
                        exit_after,
                        once: false,
                        kill_at: None,
                    };
                    self.stamp = now.wall;
                    self.ready = None;
                    self.last_exit = Some(e);
                    out.push(Action::Announce);
                    out.push(Action::Publish(b'd'));
                    out.push(Action::Finish(e.code, e.signal));
                }
                Phase::Finishing { pid: f, .. } if pid != 0 && pid == f => {
                    let permanent = Ended(wstat).code() == Some(PERMANENT_FAILURE);
                    self.finish_done(now, permanent, &mut out);
                }
                _ => {}
            },
            Event::Started(pid) => {
                self.phase = Phase::Running {
                    pid,
                    paused: false,
                    exit_after: false,
                    kill_at: None,
                };
                self.stamp = now.wall;
                self.last_start = Some(now.mono);
                self.starts = self.starts.saturating_add(1);
                self.ready = None;
                self.permanent_failure = false;
                out.push(Action::Announce);
                out.push(Action::Publish(b'u'));
            }
            Event::RunFailed => {
                // What a reader of the original's status sees after a child
                // that could not exec: down since just now, next try after
                // the throttle.
                self.phase = Phase::Down;
                self.stamp = now.wall;
                self.last_start = Some(now.mono);
                self.starts = self.starts.saturating_add(1);
                self.last_exit = Some(Exit {
                    at: now.wall,
                    code: 111,
                    signal: 0,
                });
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
            Event::Ready => {
                if matches!(self.phase, Phase::Running { .. }) && self.ready.is_none() {
                    self.ready = Some(now.wall);
                    out.push(Action::Publish(b'U'));
                }
            }
            Event::FinishStarted(pid, limit) => {
                if let Phase::Finishing {
                    pid: p, kill_at, ..
                } = &mut self.phase
                {
                    *p = pid;
                    *kill_at = limit.map(|l| now.mono + l);
                }
            }
            Event::NoFinish => self.finish_done(now, false, &mut out),
            Event::Timer => match &mut self.phase {
                Phase::StartDue(t) => {
                    if now.mono >= *t {
                        self.phase = Phase::Down;
                        out.push(Action::Start);
                    }
                }
                Phase::Running { pid, kill_at, .. } | Phase::Finishing { pid, kill_at, .. } => {
                    if kill_at.is_some_and(|k| now.mono >= k) {
                        *kill_at = None;
                        if *pid != 0 {
                            out.push(Action::Signal(*pid, Signal::SIGKILL as i32));
                        }
                    }
                }
                Phase::Down => {}
            },
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
                match &mut self.phase {
                    Phase::Down => self.request_start(now, out),
                    Phase::Finishing { once, .. } => *once = c == Command::Once,
                    _ => {}
                }
            }
            Command::Down => {
                self.want = Want::Down;
                match &mut self.phase {
                    Phase::StartDue(_) => self.phase = Phase::Down,
                    Phase::Finishing { once, .. } => *once = false,
                    _ => {}
                }
                self.signal_number(self.down_signal, out);
                self.signal(Signal::SIGCONT, out);
                let limit = self.timeout_kill;
                if let Phase::Running {
                    paused, kill_at, ..
                } = &mut self.phase
                {
                    *paused = false;
                    if kill_at.is_none() {
                        *kill_at = limit.map(|l| now.mono + l);
                    }
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
            Command::Quit => self.signal(Signal::SIGQUIT, out),
            Command::Usr1 => self.signal(Signal::SIGUSR1, out),
            Command::Usr2 => self.signal(Signal::SIGUSR2, out),
            Command::Exit => {
                out.push(Action::Announce);
                match &mut self.phase {
                    Phase::Running { exit_after, .. } | Phase::Finishing { exit_after, .. } => {
                        *exit_after = true
                    }
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
        assert_eq!(step(&mut s, 0, Event::Started(100)), vec![Action::Announce]);
        s
    }

    /// Steps as a supervise without `finish` does (a [`Action::Finish`] is
    /// answered by [`Event::NoFinish`] at once); the actions without the
    /// event bytes.
    fn step(s: &mut State, ms: u64, ev: Event) -> Vec<Action> {
        step_ev(s, ms, ev).0
    }

    /// [`step`], and the event bytes published.
    fn step_ev(s: &mut State, ms: u64, ev: Event) -> (Vec<Action>, Vec<u8>) {
        let (mut acts, mut evs) = (Vec::new(), Vec::new());
        for a in s.step(at(ms), ev) {
            match a {
                Action::Publish(b) => evs.push(b),
                Action::Finish(..) => {
                    let (a2, e2) = step_ev(s, ms, Event::NoFinish);
                    acts.extend(a2);
                    evs.extend(e2);
                }
                a => acts.push(a),
            }
        }
        (acts, evs)
    }

    fn cmd(s: &mut State, ms: u64, b: u8) -> Vec<Action> {
        step(s, ms, Event::Command(Command::from_byte(b).unwrap()))
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
        assert_eq!(
            step(&mut s, 200, Event::Exited(100, 0)),
            vec![Action::Announce]
        );
        assert_eq!(s.pid(), 0);
        assert_eq!(s.deadline(), Some(Duration::from_secs(1)));
        assert_eq!(step(&mut s, 999, Event::Timer), vec![]);
        assert_eq!(step(&mut s, 1000, Event::Timer), vec![Action::Start]);
        assert_eq!(s.deadline(), None);
    }

    #[test]
    fn late_exit_restarts_at_once() {
        let mut s = running();
        assert_eq!(
            step(&mut s, 5000, Event::Exited(100, 0)),
            vec![Action::Announce, Action::Start]
        );
    }

    #[test]
    fn down_during_pending_restart_cancels_it() {
        let mut s = running();
        step(&mut s, 10, Event::Exited(100, 0));
        assert!(s.deadline().is_some());
        assert_eq!(cmd(&mut s, 20, b'd'), vec![Action::Announce]);
        assert_eq!(s.deadline(), None);
        assert_eq!(step(&mut s, 1000, Event::Timer), vec![]);
        assert_eq!(s.status().encode()[17], b'd');
    }

    #[test]
    fn commands_act_at_once_after_a_start() {
        // The original sleeps a second after each start; here a kill sent
        // 10 ms after the start reaches the child at once.
        let mut s = running();
        assert_eq!(
            cmd(&mut s, 10, b'k'),
            vec![Action::Signal(100, Signal::SIGKILL as i32)]
        );
        assert_eq!(
            cmd(&mut s, 11, b'd'),
            vec![
                Action::Signal(100, Signal::SIGTERM as i32),
                Action::Signal(100, Signal::SIGCONT as i32),
                Action::Announce
            ]
        );
        assert_eq!(
            step(&mut s, 12, Event::Exited(100, 0)),
            vec![Action::Announce]
        );
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
            assert_eq!(cmd(&mut s, 1, b), vec![Action::Signal(100, sig as i32)]);
        }
        cmd(&mut s, 1, b'd');
        step(&mut s, 2, Event::Exited(100, 0));
        for b in *b"haitk" {
            assert_eq!(cmd(&mut s, 3, b), vec![]);
        }
    }

    #[test]
    fn pause_and_continue() {
        let mut s = running();
        assert_eq!(
            cmd(&mut s, 1, b'p'),
            vec![
                Action::Announce,
                Action::Signal(100, Signal::SIGSTOP as i32)
            ]
        );
        assert_eq!(s.status().encode()[16], 1);
        // t leaves it stopped; only d and c send CONT.
        assert_eq!(
            cmd(&mut s, 2, b't'),
            vec![Action::Signal(100, Signal::SIGTERM as i32)]
        );
        assert!(s.paused());
        assert_eq!(
            cmd(&mut s, 3, b'c'),
            vec![
                Action::Announce,
                Action::Signal(100, Signal::SIGCONT as i32)
            ]
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
        step(&mut s, 2, Event::Started(7));
        assert!(!s.paused());
    }

    #[test]
    fn once_does_not_restart() {
        let mut s = running();
        assert_eq!(cmd(&mut s, 1, b'o'), vec![Action::Announce]);
        assert_eq!(s.status().encode()[17], 0);
        assert_eq!(
            step(&mut s, 5000, Event::Exited(100, 0)),
            vec![Action::Announce]
        );
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
            step(&mut s, 2, Event::Exited(100, 0)),
            vec![Action::Announce, Action::Exit]
        );
        let mut s = State::new(true, at(0));
        s.boot(at(0));
        assert_eq!(cmd(&mut s, 1, b'x'), vec![Action::Announce, Action::Exit]);
    }

    #[test]
    fn exit_during_pending_restart() {
        let mut s = running();
        step(&mut s, 10, Event::Exited(100, 0));
        assert_eq!(cmd(&mut s, 20, b'x'), vec![Action::Announce, Action::Exit]);
    }

    #[test]
    fn up_while_running_or_pending_only_announces() {
        let mut s = running();
        assert_eq!(cmd(&mut s, 1, b'u'), vec![Action::Announce]);
        step(&mut s, 10, Event::Exited(100, 0));
        assert_eq!(cmd(&mut s, 20, b'u'), vec![Action::Announce]);
        assert_eq!(s.deadline(), Some(Duration::from_secs(1)));
    }

    #[test]
    fn fork_failure_retries_after_a_minute() {
        let mut s = State::new(false, at(0));
        s.boot(at(0));
        assert_eq!(step(&mut s, 0, Event::ForkFailed), vec![]);
        assert_eq!(s.deadline(), Some(FORK_RETRY));
        assert_eq!(step(&mut s, 59_999, Event::Timer), vec![]);
        // d during the back-off is obeyed at once and cancels the retry.
        let mut t = s.clone();
        assert_eq!(cmd(&mut t, 100, b'd'), vec![Action::Announce]);
        assert_eq!(t.deadline(), None);
        assert_eq!(step(&mut s, 60_000, Event::Timer), vec![Action::Start]);
    }

    #[test]
    fn unknown_pid_is_ignored() {
        let mut s = running();
        assert_eq!(step(&mut s, 1, Event::Exited(555, 0)), vec![]);
        assert_eq!(s.pid(), 100);
    }

    #[test]
    fn status_stamp_follows_pid_changes() {
        let mut s = running();
        let t0 = s.stamp;
        cmd(&mut s, 3000, b'h');
        assert_eq!(s.stamp, t0);
        step(&mut s, 3000, Event::Exited(100, 0));
        assert_eq!(s.stamp, at(3000).wall);
        let b = s.status().encode();
        assert_eq!(&b[12..16], &[0, 0, 0, 0]);
        assert_eq!(b[17], b'u');
    }

    #[test]
    fn run_that_cannot_start_is_down_since_now_and_retried_after_the_throttle() {
        let mut s = State::new(false, at(0));
        assert_eq!(s.boot(at(0)), vec![Action::Start]);
        assert_eq!(step(&mut s, 0, Event::RunFailed), vec![Action::Announce]);
        assert_eq!(s.phase, Phase::StartDue(START_INTERVAL));
        assert_eq!(step(&mut s, 1000, Event::Timer), vec![Action::Start]);
        assert_eq!(step(&mut s, 1500, Event::RunFailed), vec![Action::Announce]);
        assert_eq!(s.stamp, at(1500).wall);
        assert_eq!(s.deadline(), Some(Duration::from_millis(2500)));
        // Wanted down, it stays down.
        let mut o = State::new(true, at(0));
        cmd(&mut o, 1, b'o');
        assert_eq!(step(&mut o, 1, Event::RunFailed), vec![Action::Announce]);
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
                exit_after: false,
                kill_at: None
            }
        );
        cmd(&mut s, 2, b'x');
        assert_eq!(
            s.phase,
            Phase::Running {
                pid: 100,
                paused: true,
                exit_after: true,
                kill_at: None
            }
        );
        assert_eq!(
            step(&mut s, 3, Event::Exited(100, 0)),
            vec![Action::Announce, Action::Exit]
        );
        assert_eq!(s.phase, Phase::Down);
        assert!(!s.paused());
        let mut d = State::new(true, at(0));
        cmd(&mut d, 1, b'p');
        assert_eq!(d.phase, Phase::Down);
        cmd(&mut d, 2, b'u');
        step(&mut d, 2, Event::Started(7));
        step(&mut d, 3, Event::Exited(7, 0));
        assert_eq!(d.phase, Phase::StartDue(Duration::from_millis(1002)));
        cmd(&mut d, 4, b'd');
        assert_eq!(d.phase, Phase::Down);
    }

    #[test]
    fn events_of_a_life_without_finish() {
        let mut s = State::new(false, at(0));
        s.boot(at(0));
        assert_eq!(step_ev(&mut s, 0, Event::Started(100)).1, b"u");
        assert_eq!(step_ev(&mut s, 10, Event::Ready).1, b"U");
        assert_eq!(s.xstatus().ready, Some(at(10).wall));
        // A second line is not a second readiness.
        assert_eq!(step_ev(&mut s, 11, Event::Ready).1, b"");
        let (a, e) = step_ev(&mut s, 3000, Event::Exited(100, 9));
        assert_eq!(
            (a, e.as_slice()),
            (vec![Action::Announce, Action::Start], &b"dD"[..])
        );
        let x = s.xstatus();
        assert_eq!(x.ready, None);
        let last = x.last_exit.unwrap();
        assert_eq!((last.code, last.signal), (256, 9));
        assert_eq!(step_ev(&mut s, 3000, Event::Started(101)).1, b"u");
        assert_eq!(s.xstatus().restarts, 1);
    }

    #[test]
    fn finish_runs_between_exit_and_restart() {
        let mut s = running();
        let a = s.step(at(2000), Event::Exited(100, 3 << 8));
        assert_eq!(
            a,
            vec![
                Action::Announce,
                Action::Publish(b'd'),
                Action::Finish(3, 0)
            ]
        );
        assert_eq!(s.pid(), 0);
        assert!(s.xstatus().finishing);
        let limit = Some(Duration::from_millis(500));
        assert_eq!(s.step(at(2000), Event::FinishStarted(200, limit)), vec![]);
        assert_eq!(s.deadline(), Some(Duration::from_millis(2500)));
        // Signals go to ./run only; u while finishing waits for it.
        assert_eq!(cmd(&mut s, 2100, b'k'), vec![]);
        assert_eq!(cmd(&mut s, 2100, b'u'), vec![Action::Announce]);
        // Past its time: KILL, once.
        assert_eq!(
            s.step(at(2500), Event::Timer),
            vec![Action::Signal(200, Signal::SIGKILL as i32)]
        );
        assert_eq!(s.deadline(), None);
        assert_eq!(
            s.step(at(2600), Event::Exited(200, 9)),
            vec![Action::Publish(b'D'), Action::Start]
        );
        assert!(!s.xstatus().finishing);
    }

    #[test]
    fn finish_exit_125_is_a_permanent_failure() {
        let mut s = running();
        s.step(at(10), Event::Exited(100, 1 << 8));
        s.step(at(10), Event::FinishStarted(200, None));
        assert_eq!(s.deadline(), None);
        assert_eq!(
            s.step(at(20), Event::Exited(200, 125 << 8)),
            vec![
                Action::Announce,
                Action::Publish(b'O'),
                Action::Publish(b'D')
            ]
        );
        assert_eq!(s.want, Want::Down);
        assert_eq!(s.status().encode()[17], b'd');
        assert!(s.xstatus().permanent_failure);
        assert_eq!(s.deadline(), None);
        // The next start clears it.
        cmd(&mut s, 5000, b'u');
        s.step(at(5000), Event::Started(300));
        assert!(!s.xstatus().permanent_failure);
    }

    #[test]
    fn exit_and_once_wait_for_finish() {
        let mut s = running();
        cmd(&mut s, 1, b'd');
        s.step(at(2), Event::Exited(100, 15));
        s.step(at(2), Event::FinishStarted(200, None));
        assert_eq!(cmd(&mut s, 3, b'o'), vec![Action::Announce]);
        assert_eq!(
            s.step(at(4000), Event::Exited(200, 0)),
            vec![Action::Publish(b'D'), Action::Start]
        );
        let mut s = running();
        s.step(at(2), Event::Exited(100, 0));
        s.step(at(2), Event::FinishStarted(200, None));
        assert_eq!(cmd(&mut s, 3, b'x'), vec![Action::Announce]);
        assert_eq!(
            s.step(at(4), Event::Exited(200, 0)),
            vec![Action::Publish(b'D'), Action::Exit]
        );
    }

    #[test]
    fn down_signal_and_timeout_kill() {
        let mut s = running();
        s.down_signal = Signal::SIGQUIT as i32;
        s.timeout_kill = Some(Duration::from_millis(300));
        assert_eq!(
            cmd(&mut s, 100, b'd'),
            vec![
                Action::Signal(100, Signal::SIGQUIT as i32),
                Action::Signal(100, Signal::SIGCONT as i32),
                Action::Announce
            ]
        );
        assert_eq!(s.deadline(), Some(Duration::from_millis(400)));
        // A second d does not push the KILL back.
        cmd(&mut s, 200, b'd');
        assert_eq!(s.deadline(), Some(Duration::from_millis(400)));
        assert_eq!(step(&mut s, 399, Event::Timer), vec![]);
        assert_eq!(
            step(&mut s, 400, Event::Timer),
            vec![Action::Signal(100, Signal::SIGKILL as i32)]
        );
        assert_eq!(s.deadline(), None);
        assert_eq!(
            step(&mut s, 401, Event::Exited(100, 9)),
            vec![Action::Announce]
        );
    }

    #[test]
    fn new_control_bytes_signal_the_service() {
        let mut s = running();
        for (b, sig) in [
            (b'q', Signal::SIGQUIT),
            (b'1', Signal::SIGUSR1),
            (b'2', Signal::SIGUSR2),
        ] {
            assert_eq!(cmd(&mut s, 1, b), vec![Action::Signal(100, sig as i32)]);
        }
    }
}

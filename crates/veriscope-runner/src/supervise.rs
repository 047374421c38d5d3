//! The supervision loop: one thread of control that owns every decision about the runner.
//!
//! Reader threads (stdout/stderr relays, metrics pipe, metrics file tail, child waiter) and the
//! signal watcher only send [`Event`]s; this loop parses the metrics stream, hands samples to the
//! [`RunObserver`] (the live gate), writes decisions on the control channel, forwards signals to
//! the runner's process group and escalates to SIGKILL after the grace period
//! (productization §2.1 "Process safety requirements").
//!
//! The loop must never stall the runner: every pipe has its own reader thread that only
//! reads and forwards, and the channel to the loop is unbounded, so the loop's own work
//! (parsing, gating, journaling) overlaps the runner instead of blocking its writes. Readers
//! coalesce bursts ([`COALESCE`]): after a read that did not fill the buffer they pause a
//! moment before reading again, so a runner writing one line per `write` costs one wake-up
//! per millisecond rather than one per line, for it and for us.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};

use crate::artifacts;
use crate::relay::{COALESCE, RelayStats, TeeLog, spawn_relay};
use crate::spawn::SpawnedRunner;
use crate::stream::{
    Hello, Line, LineSplitter, MAX_LINE_BYTES, SampleLine, StreamItem, StreamParser, StreamSummary,
};

/// What `--on-fail` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFail {
    /// Record the FAIL and keep training.
    #[default]
    Continue,
    /// Send a stop decision at the first FAIL; terminate the group if it is ignored.
    Stop,
}

impl OnFail {
    /// The token used on the command line and in `VERISCOPE_ON_FAIL`.
    pub fn as_str(self) -> &'static str {
        match self {
            OnFail::Continue => "continue",
            OnFail::Stop => "stop",
        }
    }
}

/// A gate decision as the wrapper sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckDecision {
    Pass,
    Warn,
    Fail,
    Skip,
}

impl CheckDecision {
    /// Contract spelling (productization §4C).
    pub fn as_str(self) -> &'static str {
        match self {
            CheckDecision::Pass => "pass",
            CheckDecision::Warn => "warn",
            CheckDecision::Fail => "fail",
            CheckDecision::Skip => "skip",
        }
    }
}

/// One gate check made during the run (a `GateRecordV1` in waiting).
#[derive(Debug, Clone, PartialEq)]
pub struct GateCheck {
    pub iter: u64,
    pub decision: CheckDecision,
    pub ok: Option<bool>,
    pub warn: Option<bool>,
    /// `AuditV1` object (plus the gate's extra diagnostics).
    pub audit: Value,
}

impl GateCheck {
    /// The audit's `reason`, used in control lines.
    pub fn reason(&self) -> Option<&str> {
        self.audit.get("reason").and_then(Value::as_str)
    }
}

/// Receives the parsed stream. Errors mean Veriscope failed (recorded, run goes on).
pub trait RunObserver {
    /// The runner's hello.
    fn hello(&mut self, hello: &Hello) -> anyhow::Result<()>;
    /// A sample; returns a gate check when this sample completed one.
    fn sample(&mut self, sample: &SampleLine) -> anyhow::Result<Option<GateCheck>>;
    /// Periodic work (group commit of the journal): called after every event the loop
    /// handles and at least every [`IDLE_TICK`] while idle.
    fn tick(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Longest time the loop sleeps without an event (ticks, escalation deadlines).
pub const IDLE_TICK: Duration = Duration::from_millis(200);

/// How often the loop syncs `runner_output.log` during the run, so finalization has little
/// left to write back (the tee stays best effort, productization §3).
const TEE_SYNC_INTERVAL: Duration = Duration::from_millis(250);

/// Timing knobs of the loop.
#[derive(Debug, Clone)]
pub struct SuperviseConfig {
    /// Time between SIGTERM (or an ignored stop decision) and SIGKILL.
    pub kill_grace: Duration,
    /// How long to keep reading streams after the runner exited (grandchildren may hold pipes).
    pub drain_timeout: Duration,
    pub on_fail: OnFail,
    /// Fallback metrics file to tail (`VERISCOPE_METRICS_PATH`).
    pub metrics_path: Option<PathBuf>,
}

impl Default for SuperviseConfig {
    fn default() -> Self {
        Self {
            kill_grace: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(2),
            on_fail: OnFail::Continue,
            metrics_path: None,
        }
    }
}

/// How the runner ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildExit {
    /// Exited with this code.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
    /// Waiting failed (treated as a Veriscope failure).
    Unknown,
}

/// Everything the loop learned, for finalization.
#[derive(Debug, Clone)]
pub struct SuperviseOutcome {
    pub exit: ChildExit,
    /// First signal the wrapper itself received, if any.
    pub wrapper_signal: Option<i32>,
    /// The wrapper had to send SIGKILL.
    pub escalated_to_kill: bool,
    /// Iteration of the FAIL that triggered `--on-fail stop`.
    pub stop_iter: Option<u64>,
    /// The wrapper had to signal the group after a stop decision (the runner ignored it).
    pub stop_ignored: bool,
    pub stream: StreamSummary,
    pub checks: Vec<GateCheck>,
    /// Canonical text of each check's `GateRecordV1`, rendered as the check was made so
    /// that finalization only joins them into results.json; `None` if one would not render.
    pub gate_records: Option<Vec<String>>,
    /// Veriscope-side failures during the run (journal writes, gate errors).
    pub internal_errors: Vec<String>,
    /// Control lines dropped because the runner did not drain the channel.
    pub control_dropped: u64,
    pub stdout: RelayStats,
    pub stderr: RelayStats,
}

/// Messages from the reader threads and signal watcher to the loop.
#[derive(Debug)]
pub enum Event {
    /// The lines one read completed, in order.
    Metrics(Vec<Line>),
    MetricsClosed(MetricsSource),
    ChildExited(io::Result<ExitStatus>),
    Interrupt(i32),
}

/// Where a metrics line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsSource {
    Pipe,
    File,
}

/// Cloneable handle that delivers a signal (by number) to the loop; the CLI's signal watcher
/// and tests use it. Signals sent before the runner exists are replayed once it does.
#[derive(Debug, Clone)]
pub struct InterruptHandle(Sender<Event>);

impl InterruptHandle {
    /// Delivers signal `signo` as if the wrapper had received it.
    pub fn interrupt(&self, signo: i32) {
        let _ = self.0.send(Event::Interrupt(signo));
    }
}

/// The supervision loop, created before the runner so early signals are queued.
pub struct Supervisor {
    tx: Sender<Event>,
    rx: Receiver<Event>,
    cfg: SuperviseConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Running,
    /// Stop decision sent; SIGTERM at the deadline.
    StopRequested(Instant),
    /// Signal sent to the group; SIGKILL at the deadline.
    Terminating(Instant),
    Killed,
}

impl Supervisor {
    /// A loop with its event channel.
    pub fn new(cfg: SuperviseConfig) -> Self {
        let (tx, rx) = mpsc::channel();
        Self { tx, rx, cfg }
    }

    /// Handle for delivering signals.
    pub fn interrupt_handle(&self) -> InterruptHandle {
        InterruptHandle(self.tx.clone())
    }

    /// Supervises `runner` until it exits and its streams drain.
    pub fn run<O, W1, W2>(
        self,
        runner: SpawnedRunner,
        observer: &mut O,
        tee: Arc<TeeLog>,
        stdout_console: W1,
        stderr_console: W2,
    ) -> io::Result<SuperviseOutcome>
    where
        O: RunObserver + ?Sized,
        W1: Write + Send + 'static,
        W2: Write + Send + 'static,
    {
        let SpawnedRunner {
            mut child,
            pgid,
            stdout,
            stderr,
            metrics,
            control,
        } = runner;
        // Each relay says when it is done (its last act), so joining them never polls.
        let (done_tx, done_rx) = mpsc::channel::<usize>();
        let done = done_tx.clone();
        let out_relay = spawn_relay("stdout", stdout, stdout_console, tee.clone(), move || {
            let _ = done.send(0);
        })?;
        let err_relay = spawn_relay("stderr", stderr, stderr_console, tee.clone(), move || {
            let _ = done_tx.send(1);
        })?;
        spawn_pipe_reader(metrics, self.tx.clone())?;
        let tail_stop = Arc::new(AtomicBool::new(false));
        let tail = match &self.cfg.metrics_path {
            Some(path) => Some(spawn_file_tail(
                path.clone(),
                self.tx.clone(),
                tail_stop.clone(),
            )?),
            None => None,
        };
        let waiter_tx = self.tx.clone();
        std::thread::Builder::new()
            .name("child-wait".into())
            .spawn(move || {
                let _ = waiter_tx.send(Event::ChildExited(child.wait()));
            })?;

        let mut state = LoopState::new(pgid, control, self.cfg.clone(), tee);
        state.run_until_exit(&self.rx, observer);
        tail_stop.store(true, Ordering::SeqCst);
        if let Some(t) = &tail {
            // Wake it from its poll pause so the drain does not wait for it.
            t.thread().unpark();
        }
        state.drain(&self.rx, observer, tail.is_some());
        let deadline = Instant::now() + self.cfg.drain_timeout;
        let mut finished = [false; 2];
        while !finished.iter().all(|f| *f) {
            let left = deadline.saturating_duration_since(Instant::now());
            match done_rx.recv_timeout(left) {
                Ok(i) => finished[i] = true,
                Err(_) => break,
            }
        }
        let stdout = join_relay(out_relay, finished[0]);
        let stderr = join_relay(err_relay, finished[1]);
        Ok(state.into_outcome(stdout, stderr))
    }
}

struct LoopState {
    pgid: Pid,
    control: File,
    cfg: SuperviseConfig,
    tee: Arc<TeeLog>,
    last_tee_sync: Instant,
    parser: StreamParser,
    stage: Stage,
    exit: Option<ChildExit>,
    wrapper_signal: Option<i32>,
    escalated_to_kill: bool,
    stop_iter: Option<u64>,
    stop_ignored: bool,
    checks: Vec<GateCheck>,
    gate_records: Option<Vec<String>>,
    internal_errors: Vec<String>,
    control_dropped: u64,
    pipe_open: bool,
}

impl LoopState {
    fn new(pgid: i32, control: File, cfg: SuperviseConfig, tee: Arc<TeeLog>) -> Self {
        Self {
            pgid: Pid::from_raw(pgid),
            control,
            cfg,
            tee,
            last_tee_sync: Instant::now(),
            parser: StreamParser::default(),
            stage: Stage::Running,
            exit: None,
            wrapper_signal: None,
            escalated_to_kill: false,
            stop_iter: None,
            stop_ignored: false,
            checks: Vec::new(),
            gate_records: Some(Vec::new()),
            internal_errors: Vec::new(),
            control_dropped: 0,
            pipe_open: true,
        }
    }

    fn run_until_exit<O: RunObserver + ?Sized>(&mut self, rx: &Receiver<Event>, observer: &mut O) {
        while self.exit.is_none() {
            let wait = self.next_deadline().map_or(IDLE_TICK, |d| {
                d.saturating_duration_since(Instant::now()).min(IDLE_TICK)
            });
            match rx.recv_timeout(wait) {
                Ok(event) => self.handle(event, observer),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.escalate_if_due();
            self.tick(observer);
        }
    }

    /// Periodic durability work between events (docs/wrapper.md "Durability").
    fn tick<O: RunObserver + ?Sized>(&mut self, observer: &mut O) {
        if let Err(e) = observer.tick() {
            self.internal_errors.push(format!("{e:#}"));
        }
        if self.last_tee_sync.elapsed() >= TEE_SYNC_INTERVAL {
            self.last_tee_sync = Instant::now();
            // Best effort like every tee write; finalization syncs once more.
            let _ = self.tee.sync_data();
        }
    }

    /// After the runner exited: read what is left on the metrics pipe and file.
    fn drain<O: RunObserver + ?Sized>(
        &mut self,
        rx: &Receiver<Event>,
        observer: &mut O,
        tailing: bool,
    ) {
        let deadline = Instant::now() + self.cfg.drain_timeout;
        let mut file_open = tailing;
        while self.pipe_open || file_open {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(Event::MetricsClosed(MetricsSource::File)) => file_open = false,
                Ok(event) => self.handle(event, observer),
                Err(_) => break,
            }
            self.tick(observer);
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        match self.stage {
            Stage::StopRequested(d) | Stage::Terminating(d) => Some(d),
            Stage::Running | Stage::Killed => None,
        }
    }

    fn handle<O: RunObserver + ?Sized>(&mut self, event: Event, observer: &mut O) {
        match event {
            Event::Metrics(lines) => {
                for line in &lines {
                    self.on_line(line, observer);
                }
            }
            Event::MetricsClosed(MetricsSource::Pipe) => self.pipe_open = false,
            Event::MetricsClosed(MetricsSource::File) => {}
            Event::ChildExited(status) => self.exit = Some(exit_of(status)),
            Event::Interrupt(signo) => self.on_interrupt(signo),
        }
    }

    fn on_line<O: RunObserver + ?Sized>(&mut self, line: &Line, observer: &mut O) {
        let result = match self.parser.feed(line) {
            Some(StreamItem::Hello(h)) => observer.hello(&h).map(|()| None),
            Some(StreamItem::Sample(s)) => observer.sample(&s),
            Some(StreamItem::End(_)) | None => Ok(None),
        };
        match result {
            Ok(Some(check)) => self.on_check(check),
            Ok(None) => {}
            Err(e) => self.internal_errors.push(format!("{e:#}")),
        }
    }

    fn on_check(&mut self, check: GateCheck) {
        let stop = check.decision == CheckDecision::Fail
            && self.cfg.on_fail == OnFail::Stop
            && self.stop_iter.is_none()
            && self.exit.is_none();
        let line = json!({
            "type": "decision",
            "iter": check.iter,
            "decision": check.decision.as_str(),
            "action": if stop { "stop" } else { "continue" },
            "reason": check.reason(),
        });
        self.send_control(&line);
        if stop {
            self.stop_iter = Some(check.iter);
            if self.stage == Stage::Running {
                self.stage = Stage::StopRequested(Instant::now() + self.cfg.kill_grace);
            }
        }
        // Rendered now, on the wrapper's core while the runner trains, rather than at
        // finalization, where it would add to the run's wall time.
        match (
            self.gate_records.as_mut(),
            artifacts::gate_record_text(&check),
        ) {
            (Some(records), Ok(text)) => records.push(text),
            _ => self.gate_records = None,
        }
        self.checks.push(check);
    }

    /// One `write` per line so it stays atomic (< PIPE_BUF); a full pipe drops the line.
    fn send_control(&mut self, line: &Value) {
        let mut text = line.to_string();
        text.push('\n');
        if self.control.write_all(text.as_bytes()).is_err() {
            self.control_dropped += 1;
        }
    }

    fn on_interrupt(&mut self, signo: i32) {
        if self.exit.is_some() {
            return;
        }
        if self.wrapper_signal.is_none() {
            self.wrapper_signal = Some(signo);
        }
        match self.stage {
            Stage::Running | Stage::StopRequested(_) => {
                let sig = Signal::try_from(signo).unwrap_or(Signal::SIGTERM);
                self.signal_group(sig);
                self.stage = Stage::Terminating(Instant::now() + self.cfg.kill_grace);
            }
            // A second signal means "now" (productization §2.1; A14 "second signal").
            Stage::Terminating(_) => self.kill_group(),
            Stage::Killed => {}
        }
    }

    fn escalate_if_due(&mut self) {
        if self.exit.is_some() {
            return;
        }
        let now = Instant::now();
        match self.stage {
            Stage::StopRequested(d) if now >= d => {
                self.stop_ignored = true;
                self.signal_group(Signal::SIGTERM);
                self.stage = Stage::Terminating(now + self.cfg.kill_grace);
            }
            Stage::Terminating(d) if now >= d => self.kill_group(),
            _ => {}
        }
    }

    fn kill_group(&mut self) {
        self.signal_group(Signal::SIGKILL);
        self.escalated_to_kill = true;
        self.stage = Stage::Killed;
    }

    fn signal_group(&self, sig: Signal) {
        // ESRCH (group already gone) is fine: the waiter thread reports the exit.
        let _ = killpg(self.pgid, sig);
    }

    fn into_outcome(self, stdout: RelayStats, stderr: RelayStats) -> SuperviseOutcome {
        SuperviseOutcome {
            exit: self.exit.unwrap_or(ChildExit::Unknown),
            wrapper_signal: self.wrapper_signal,
            escalated_to_kill: self.escalated_to_kill,
            stop_iter: self.stop_iter,
            stop_ignored: self.stop_ignored,
            stream: self.parser.summary(),
            checks: self.checks,
            gate_records: self.gate_records,
            internal_errors: self.internal_errors,
            control_dropped: self.control_dropped,
            stdout,
            stderr,
        }
    }
}

fn exit_of(status: io::Result<ExitStatus>) -> ChildExit {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(code), _) => ChildExit::Code(code),
            (None, Some(sig)) => ChildExit::Signal(sig),
            (None, None) => ChildExit::Unknown,
        },
        Err(_) => ChildExit::Unknown,
    }
}

/// `SIGTERM`-style name of a signal number (`SIG<n>` when unknown).
pub fn signal_name(signo: i32) -> String {
    Signal::try_from(signo).map_or_else(|_| format!("SIG{signo}"), |s| s.as_str().to_string())
}

fn spawn_pipe_reader(mut pipe: File, tx: Sender<Event>) -> io::Result<()> {
    std::thread::Builder::new()
        .name("metrics-pipe".into())
        .spawn(move || {
            let mut splitter = LineSplitter::new(MAX_LINE_BYTES);
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match pipe.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        let lines = splitter.push(&buf[..n]);
                        if !lines.is_empty() {
                            let _ = tx.send(Event::Metrics(lines));
                        }
                        if n < buf.len() / 2 {
                            std::thread::sleep(COALESCE);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            if let Some(line) = splitter.finish() {
                let _ = tx.send(Event::Metrics(vec![line]));
            }
            let _ = tx.send(Event::MetricsClosed(MetricsSource::Pipe));
        })?;
    Ok(())
}

/// Polls the fallback file for appended bytes until `stop`, then reads what is left. The
/// pause between polls is a `park_timeout`, so whoever sets `stop` can unpark the thread.
fn spawn_file_tail(
    path: PathBuf,
    tx: Sender<Event>,
    stop: Arc<AtomicBool>,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("metrics-file".into())
        .spawn(move || {
            let mut splitter = LineSplitter::new(MAX_LINE_BYTES);
            let mut file: Option<File> = None;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let stopping = stop.load(Ordering::SeqCst);
                if file.is_none() {
                    file = File::open(&path).ok();
                }
                if let Some(f) = file.as_mut() {
                    while let Ok(n) = f.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        let lines = splitter.push(&buf[..n]);
                        if !lines.is_empty() {
                            let _ = tx.send(Event::Metrics(lines));
                        }
                    }
                }
                if stopping {
                    break;
                }
                std::thread::park_timeout(Duration::from_millis(20));
            }
            if let Some(line) = splitter.finish() {
                let _ = tx.send(Event::Metrics(vec![line]));
            }
            let _ = tx.send(Event::MetricsClosed(MetricsSource::File));
        })
}

/// The relay's counters if it reached EOF; a relay still blocked on a pipe that a
/// grandchild holds open is left behind (its stats unknown) rather than waited for.
fn join_relay(handle: JoinHandle<RelayStats>, reached_eof: bool) -> RelayStats {
    if reached_eof || handle.is_finished() {
        handle.join().unwrap_or_default()
    } else {
        RelayStats::default()
    }
}

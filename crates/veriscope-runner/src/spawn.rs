//! Spawning the runner: its own process group (so signals reach every process it starts and a
//! terminal's Ctrl-C reaches only the wrapper), piped stdout/stderr, and the two protocol pipes
//! of docs/metrics-stream.md §Transport inherited without `CLOEXEC`.
//!
//! A new process group is made with the safe `CommandExt::process_group(0)` rather than
//! `setsid` in `pre_exec`, which needs `unsafe` (denied workspace-wide). Group-wide signal
//! forwarding, the property productization §2.1 asks for, is the same; stdin is `/dev/null`
//! so a background-group runner can never stop on a terminal read.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::sync::Mutex;

use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::unistd::pipe2;

/// Env var carrying the metrics pipe's write-end fd.
pub const METRICS_FD_ENV: &str = "VERISCOPE_METRICS_FD";
/// Env var carrying the control pipe's read-end fd.
pub const CONTROL_FD_ENV: &str = "VERISCOPE_CONTROL_FD";

/// Serializes the window in which inheritable fds exist, so a runner spawned concurrently by
/// this process (tests run in threads) cannot inherit another run's pipe and hold it open.
static SPAWN_GUARD: Mutex<()> = Mutex::new(());

/// What to launch.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    /// `argv[0]` and the rest.
    pub argv: Vec<String>,
    /// The complete child environment (the wrapper adds the fd variables).
    pub env: BTreeMap<String, String>,
}

/// A started runner and the wrapper's ends of its pipes.
#[derive(Debug)]
pub struct SpawnedRunner {
    pub child: Child,
    /// Pid of the runner, which is also its process group id.
    pub pgid: i32,
    pub stdout: ChildStdout,
    pub stderr: ChildStderr,
    /// Read end of the metrics pipe.
    pub metrics: File,
    /// Write end of the control pipe (non-blocking: a runner that never reads cannot stall us).
    pub control: File,
}

/// Starts the runner in a new process group with the protocol pipes attached.
pub fn spawn_runner(spec: &SpawnSpec) -> io::Result<SpawnedRunner> {
    let (program, args) = spec
        .argv
        .split_first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty runner command"))?;
    let (metrics_read, metrics_write) = pipe2(OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    let (control_read, control_write) = pipe2(OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    fcntl(&control_write, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).map_err(io::Error::from)?;

    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(&spec.env)
        .env(METRICS_FD_ENV, metrics_write.as_raw_fd().to_string())
        .env(CONTROL_FD_ENV, control_read.as_raw_fd().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);

    let mut child = {
        let _guard = SPAWN_GUARD.lock().unwrap_or_else(|e| e.into_inner());
        set_inheritable(&metrics_write)?;
        set_inheritable(&control_read)?;
        let spawned = cmd.spawn();
        // Our copies of the child's ends must close, or EOF on the metrics pipe never comes.
        drop(metrics_write);
        drop(control_read);
        spawned?
    };
    let stdout = child.stdout.take().expect("stdout was piped");
    let stderr = child.stderr.take().expect("stderr was piped");
    let pgid = i32::try_from(child.id()).map_err(io::Error::other)?;
    Ok(SpawnedRunner {
        child,
        pgid,
        stdout,
        stderr,
        metrics: File::from(metrics_read),
        control: File::from(control_write),
    })
}

fn set_inheritable(fd: &OwnedFd) -> io::Result<()> {
    fcntl(fd, FcntlArg::F_SETFD(FdFlag::empty())).map_err(io::Error::from)?;
    Ok(())
}

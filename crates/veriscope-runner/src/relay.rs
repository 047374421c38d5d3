//! Live relay of the runner's stdout/stderr to the console, teed to `runner_output.log`.
//!
//! The console gets each chunk the moment it is read (no line buffering, so progress bars
//! drawn with `\r` stay live); the log gets whole lines, so stdout and stderr lines never
//! interleave mid-line in the file.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

/// Name of the tee file inside the capsule.
pub const RUNNER_OUTPUT_LOG: &str = "runner_output.log";

/// A partial line longer than this is written to the log without waiting for its `\n`.
const MAX_PENDING: usize = 64 * 1024;

/// Pause of a pipe reader after a read that did not fill its buffer, so that a burst of
/// small writes (a runner printing one line per `write`) is read in one go instead of one
/// wake-up per line; waking a sleeping reader costs the writer too. A line that arrives
/// while the reader is idle still wakes it at once, so this bounds the extra console delay
/// of a line to about 1 ms, well inside the 10 ms target (docs/wrapper.md "Measured"), and
/// a 64 KiB pipe cannot fill in that time below ~64 MB/s.
pub const COALESCE: Duration = Duration::from_millis(1);

/// The shared tee file. Line writes from both relays are serialized by a mutex and go
/// straight to the file (one `write` per relayed chunk), so the log is current while the run
/// is live and nothing is lost if the wrapper itself is killed.
#[derive(Debug)]
pub struct TeeLog {
    out: Mutex<File>,
    /// A second descriptor of the same file, so syncing never holds the relays' mutex (a
    /// relay waiting on it would stop draining the runner's pipe). Made at the first sync,
    /// after the runner started: the runner's protocol fds keep the numbers they had
    /// (a POSIX `sh` runner can only redirect to fds 0-9, tests/fake_runners/fake_stream.sh).
    sync: OnceLock<File>,
}

impl TeeLog {
    /// Creates (truncates) the log file.
    pub fn create(path: &Path) -> io::Result<Arc<Self>> {
        let file = File::create(path)?;
        Ok(Arc::new(Self {
            out: Mutex::new(file),
            sync: OnceLock::new(),
        }))
    }

    /// Opens the log for appending (a resumed run keeps the earlier attempts' output).
    pub fn open_append(path: &Path) -> io::Result<Arc<Self>> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Arc::new(Self {
            out: Mutex::new(file),
            sync: OnceLock::new(),
        }))
    }

    fn sync_handle(&self) -> io::Result<&File> {
        if let Some(file) = self.sync.get() {
            return Ok(file);
        }
        let clone = self
            .out
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .try_clone()?;
        Ok(self.sync.get_or_init(|| clone))
    }

    fn write(&self, bytes: &[u8]) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        // A full disk must not stop the run; the log is best effort (productization §3).
        let _ = out.write_all(bytes);
    }

    /// fsyncs the file (data and metadata).
    pub fn flush(&self) -> io::Result<()> {
        self.sync_handle()?.sync_all()
    }

    /// fdatasyncs the file (periodically during the run).
    pub fn sync_data(&self) -> io::Result<()> {
        self.sync_handle()?.sync_data()
    }
}

/// Counters of one relayed stream.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RelayStats {
    pub bytes: u64,
    pub lines: u64,
}

/// Starts a thread copying `src` to `console` and `log` until EOF; `on_eof` runs at the end.
pub fn spawn_relay<R, W, F>(
    name: &str,
    mut src: R,
    mut console: W,
    log: Arc<TeeLog>,
    on_eof: F,
) -> io::Result<JoinHandle<RelayStats>>
where
    R: Read + Send + 'static,
    W: Write + Send + 'static,
    F: FnOnce() + Send + 'static,
{
    std::thread::Builder::new()
        .name(format!("relay-{name}"))
        .spawn(move || {
            let mut stats = RelayStats::default();
            let mut pending: Vec<u8> = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match src.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                let chunk = &buf[..n];
                // A closed console (EPIPE) must not stop the tee or the run.
                let _ = console.write_all(chunk).and_then(|()| console.flush());
                stats.bytes += n as u64;
                stats.lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
                tee_lines(&log, &mut pending, chunk);
                if n < buf.len() / 2 {
                    std::thread::sleep(COALESCE);
                }
            }
            if !pending.is_empty() {
                pending.push(b'\n');
                log.write(&pending);
            }
            on_eof();
            stats
        })
}

/// Appends the complete lines of `pending + chunk` to the log and keeps the tail.
fn tee_lines(log: &TeeLog, pending: &mut Vec<u8>, chunk: &[u8]) {
    match chunk.iter().rposition(|&b| b == b'\n') {
        Some(last) => {
            if pending.is_empty() {
                log.write(&chunk[..=last]);
            } else {
                pending.extend_from_slice(&chunk[..=last]);
                log.write(pending);
                pending.clear();
            }
            pending.extend_from_slice(&chunk[last + 1..]);
        }
        None => pending.extend_from_slice(chunk),
    }
    if pending.len() > MAX_PENDING {
        log.write(pending);
        pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tees_whole_lines_and_terminates_a_dangling_one() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("log");
        let log = TeeLog::create(&path).unwrap();
        let console = Arc::new(Mutex::new(Vec::new()));
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let src: &'static [u8] = b"one\ntwo\nthree";
        let h = spawn_relay("t", src, Sink(console.clone()), log.clone(), || {}).unwrap();
        let stats = h.join().unwrap();
        log.flush().unwrap();
        assert_eq!(stats.lines, 2);
        assert_eq!(console.lock().unwrap().as_slice(), b"one\ntwo\nthree");
        assert_eq!(std::fs::read(&path).unwrap(), b"one\ntwo\nthree\n");
    }
}

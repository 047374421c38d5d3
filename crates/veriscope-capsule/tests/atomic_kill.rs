//! Kill-the-writer test for `atomic::write_text_atomic` (issue 2 item 4).
//!
//! This binary has its own `main` (harness = false) so it can re-run itself as the writer:
//! `atomic_kill --child <target>` rewrites `<target>` forever, alternating two large contents.
//! The parent SIGKILLs that child at varied moments and checks, both while the child runs and
//! after it died, that the target is always one of the two complete contents, never torn.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use veriscope_capsule::atomic::write_text_atomic;

const ROUNDS: u64 = 12;

fn content(variant: u8) -> String {
    // ~2 MiB so a write spans many syscalls and a kill can land mid-write.
    let fill = if variant == 0 { 'a' } else { 'b' };
    let mut s = String::with_capacity(2 << 20);
    s.push_str(&format!("BEGIN {variant}\n"));
    s.extend(std::iter::repeat_n(fill, (2 << 20) - 32));
    s.push_str(&format!("\nEND {variant}\n"));
    s
}

fn child_loop(target: &Path) -> ! {
    let contents = [content(0), content(1)];
    let mut i = 0usize;
    loop {
        write_text_atomic(target, &contents[i % 2]).expect("child write");
        i += 1;
    }
}

fn assert_whole(target: &Path, contents: &[String; 2], when: &str) {
    let got = std::fs::read_to_string(target).expect("target must always exist");
    assert!(
        got == contents[0] || got == contents[1],
        "{when}: torn content ({} bytes, starts {:?}, ends {:?})",
        got.len(),
        &got[..got.len().min(10)],
        &got[got.len().saturating_sub(8)..]
    );
}

fn parent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("results.json");
    let contents = [content(0), content(1)];
    write_text_atomic(&target, &contents[0]).expect("seed write");
    let exe = std::env::current_exe().expect("current exe");
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .arg("--child")
            .arg(&target)
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn writer");
        // Vary the kill moment: 3 ms .. 36 ms into the write loop.
        let deadline = Instant::now() + Duration::from_millis(3 + round * 3);
        while Instant::now() < deadline {
            assert_whole(&target, &contents, "during writes");
        }
        child.kill().expect("SIGKILL writer");
        child.wait().expect("reap writer");
        assert_whole(&target, &contents, "after SIGKILL");
    }
    println!("atomic_kill: {ROUNDS} rounds, target never torn");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--child") => child_loop(Path::new(&args[2])),
        // libtest-style flags (e.g. `--list` from nextest) are ignored here.
        Some("--list") => println!("atomic_kill: test"),
        _ => parent(),
    }
}

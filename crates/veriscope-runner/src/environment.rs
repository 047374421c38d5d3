//! Platform and dependency capture: `environment.txt` (productization §4A "Dependency +
//! platform capture") and the `determinism_status` / `dependencies` blocks of
//! `run_config_resolved.json`. Best effort: every probe has a timeout and a missing tool is a
//! note, never an error.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Name of the platform capture file in the capsule.
pub const ENVIRONMENT_TXT: &str = "environment.txt";

/// GPU facts from `nvidia-smi`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GpuInfo {
    pub names: Vec<String>,
    pub driver: Option<String>,
}

/// Runs `argv` with a timeout; stdout on success, `None` on any failure.
pub fn probe(argv: &[&str], env: &BTreeMap<String, String>, timeout: Duration) -> Option<String> {
    probe_spawned(argv, env, timeout).ok().flatten()
}

/// [`probe`] at a lower CPU priority (`nice -n 10`): the dependency capture runs while the
/// runner trains, and `pip freeze` alone takes most of a core for about a second. At nice 10
/// it gets about a tenth of a core it shares with the runner (and all of an idle one), so it
/// slows the runner little; unlike nice 19 it still finishes well inside its timeout on a
/// machine the training saturates. Falls back to a plain probe where `nice` is missing.
pub fn probe_background(
    argv: &[&str],
    env: &BTreeMap<String, String>,
    timeout: Duration,
) -> Option<String> {
    let niced: Vec<&str> = ["nice", "-n", "10"].iter().chain(argv).copied().collect();
    match probe_spawned(&niced, env, timeout) {
        Ok(out) => out,
        Err(_) => probe(argv, env, timeout),
    }
}

/// `Err` when `argv[0]` could not be started at all.
fn probe_spawned(
    argv: &[&str],
    env: &BTreeMap<String, String>,
    timeout: Duration,
) -> std::io::Result<Option<String>> {
    let Some((program, args)) = argv.split_first() else {
        return Ok(None);
    };
    let mut child = Command::new(program)
        .args(args)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let Some(mut stdout) = child.stdout.take() else {
        return Ok(None);
    };
    // The reader drops `eof` when the tool closes its stdout, which it does as it exits.
    let (eof, at_eof) = mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        drop(eof);
        s
    });
    let deadline = Instant::now() + timeout;
    // `git rev-parse` runs before the runner starts and answers in a few ms, so its exit is
    // noticed at once (woken by the EOF, then short polls) rather than at a fixed 10 ms poll.
    let mut pause = Duration::from_millis(1);
    let mut closed = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => {
                if closed {
                    std::thread::sleep(pause);
                } else if let Err(RecvTimeoutError::Disconnected) = at_eof.recv_timeout(pause) {
                    closed = true;
                    pause = Duration::from_micros(50);
                }
                pause = (pause * 2).min(Duration::from_millis(10));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let Ok(out) = reader.join() else {
        return Ok(None);
    };
    Ok(status.filter(|s| s.success()).map(|_| out))
}

/// GPUs visible to `nvidia-smi`, if it exists and answers.
pub fn gpu_info(env: &BTreeMap<String, String>) -> Option<GpuInfo> {
    let out = probe(
        &[
            "nvidia-smi",
            "--query-gpu=name,driver_version",
            "--format=csv,noheader",
        ],
        env,
        Duration::from_secs(5),
    )?;
    let mut info = GpuInfo::default();
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let mut parts = line.split(',').map(str::trim);
        info.names
            .push(parts.next().unwrap_or_default().to_string());
        info.driver = parts.next().map(str::to_string).or(info.driver);
    }
    Some(info)
}

fn first_line_with(path: &str, prefix: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(prefix))?;
    Some(
        line.split_once([':', '='])
            .map_or(line, |(_, v)| v)
            .trim()
            .trim_matches('"')
            .to_string(),
    )
}

/// Facts gathered for one run.
#[derive(Debug, Clone, Default)]
pub struct Platform {
    pub text: String,
    /// `dependencies` block (§4A).
    pub dependencies: Value,
    pub gpu: Option<GpuInfo>,
    /// The captured dependency list exactly as written under `pip_freeze:` (unindented),
    /// the input of `dependencies_sha256`; `None` when nothing was captured.
    pub dependency_text: Option<String>,
}

/// Gathers platform facts; `python` is the interpreter of a Python runner, if any.
pub fn capture_platform(
    env: &BTreeMap<String, String>,
    python: Option<&str>,
    gpu: Option<GpuInfo>,
) -> Platform {
    let mut lines = vec![
        format!(
            "os: {}",
            first_line_with("/etc/os-release", "PRETTY_NAME")
                .unwrap_or_else(|| std::env::consts::OS.to_string())
        ),
        format!(
            "kernel: {}",
            std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        ),
        format!("arch: {}", std::env::consts::ARCH),
        format!(
            "cpu_model: {}",
            first_line_with("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown".into())
        ),
        format!(
            "cpu_count: {}",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        ),
        format!(
            "memory_total: {}",
            first_line_with("/proc/meminfo", "MemTotal").unwrap_or_else(|| "unknown".into())
        ),
        format!("veriscope: {}", env!("CARGO_PKG_VERSION")),
    ];
    match &gpu {
        Some(g) => {
            lines.push(format!("gpu_count: {}", g.names.len()));
            lines.extend(
                g.names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| format!("gpu[{i}]: {n}")),
            );
            lines.push(format!(
                "gpu_driver: {}",
                g.driver.as_deref().unwrap_or("unknown")
            ));
        }
        None => lines.push("gpu: none detected (nvidia-smi unavailable or no devices)".into()),
    }
    // No interpreter is started for a non-Python runner (`run gpt`, `run cmd` of a binary).
    let (dependencies, dependency_text) = match python {
        Some(py) => python_section(py, env, &mut lines),
        None => (
            json!({ "method": "unavailable", "notes": ["no Python runner; pip freeze not applicable"] }),
            None,
        ),
    };
    Platform {
        text: lines.join("\n") + "\n",
        dependencies,
        gpu,
        dependency_text,
    }
}

/// The dependency listing run in the runner's interpreter: `sys.version`, then one JSON line
/// per distribution `importlib.metadata` finds on `sys.path` (its metadata header block and
/// its `direct_url.json`, `null` when absent; `null` alone when unreadable). Formatting,
/// de-duplication and sorting are done by [`parse_listing`] and [`freeze_text`]. It imports
/// only `json` and `importlib.metadata` (no `pip`, no email parsing of each `METADATA`), so it
/// costs an interpreter start plus about 60 ms of CPU where `pip freeze` costs 0.3-0.6 s.
pub const DEPENDENCY_SCRIPT: &str = r#"import sys, json
from importlib.metadata import distributions
out = [json.dumps([sys.version, list(sys.version_info[:2])])]
for d in distributions():
    try:
        t = d.read_text('METADATA') or d.read_text('PKG-INFO') or d.read_text('') or ''
        out.append(json.dumps([t.partition('\n\n')[0], d.read_text('direct_url.json')]))
    except Exception:
        out.append('null')
sys.stdout.write('\n'.join(out) + '\n')
"#;

/// How the dependency list was obtained (`dependencies.source` in `run_config_resolved.json`).
pub const SOURCE_IMPORTLIB: &str = "importlib.metadata";
/// The fallback when [`DEPENDENCY_SCRIPT`] fails: `python -m pip freeze`.
pub const SOURCE_PIP: &str = "pip freeze";

/// One installed distribution as the interpreter reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct Distribution {
    /// `Name` as written in its metadata (pip's "raw name").
    pub name: String,
    pub version: String,
    /// Parsed `direct_url.json` (PEP 610), if any.
    pub direct_url: Option<Value>,
}

/// What [`DEPENDENCY_SCRIPT`] printed, parsed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Listing {
    /// `sys.version`, newlines replaced by spaces.
    pub python: String,
    /// `sys.version_info[:2]`.
    pub version_info: (u32, u32),
    /// In `sys.path` order, as found (duplicates included).
    pub distributions: Vec<Distribution>,
    /// Distributions whose metadata could not be read or lacked `Name`/`Version` (pip skips
    /// them too).
    pub unreadable: usize,
}

/// Parses the output of [`DEPENDENCY_SCRIPT`].
pub fn parse_listing(out: &str) -> Result<Listing, String> {
    let mut lines = out.lines();
    let first = lines.next().ok_or("empty output")?;
    let head: (String, (u32, u32)) =
        serde_json::from_str(first).map_err(|e| format!("bad version line: {e}"))?;
    let mut listing = Listing {
        python: head.0.replace('\n', " "),
        version_info: head.1,
        ..Listing::default()
    };
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let entry: Option<(Option<String>, Option<String>)> =
            serde_json::from_str(line).map_err(|e| format!("bad distribution line: {e}"))?;
        let Some((Some(header), direct_url)) = entry else {
            listing.unreadable += 1;
            continue;
        };
        let (Some(name), Some(version)) = (
            header_field(&header, "Name"),
            header_field(&header, "Version"),
        ) else {
            listing.unreadable += 1;
            continue;
        };
        listing.distributions.push(Distribution {
            name: name.to_string(),
            version: version.to_string(),
            direct_url: direct_url.and_then(|u| serde_json::from_str(&u).ok()),
        });
    }
    Ok(listing)
}

/// The first `key: value` header of a core-metadata header block (names compare
/// case-insensitively, like `email.message.Message.get`); continuation lines are skipped.
pub fn header_field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    header
        .lines()
        .filter(|l| !l.starts_with([' ', '\t']))
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(key))
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// PEP 503 normalized name (`packaging.utils.canonicalize_name`): runs of `-`, `_`, `.`
/// become one `-`, lowercased.
pub fn canonical_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_sep {
                out.push('-');
            }
            in_sep = true;
        } else {
            out.extend(c.to_lowercase());
            in_sep = false;
        }
    }
    out
}

/// Distributions `pip freeze` leaves out by default: `stdlib_pkgs` and `pip`, plus the
/// build backends before Python 3.12 (pip's `_should_suppress_build_backends`).
fn skipped_by_pip_freeze(canonical: &str, version_info: (u32, u32)) -> bool {
    matches!(canonical, "python" | "wsgiref" | "argparse" | "pip")
        || (version_info < (3, 12) && matches!(canonical, "setuptools" | "distribute" | "wheel"))
}

/// A file URL's path (`file:///a%20b` → `/a b`); other URLs as they are.
fn file_url_path(url: &str) -> String {
    let Some(rest) = url.strip_prefix("file://") else {
        return url.to_string();
    };
    let path = rest.strip_prefix("localhost").unwrap_or(rest);
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied(),
            bytes.get(i + 2).copied(),
        ) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One distribution as a `pip freeze` entry: `name==version`; `name @ url` for a direct-URL
/// install (PEP 610, pip's `direct_url_as_pep440_direct_reference`); for an editable install
/// a comment line and `-e <project location>` (pip would also ask the VCS for a remote and
/// commit; we do not run it, the wrapper records the `git_sha` of its own checkout).
pub fn format_requirement(d: &Distribution) -> String {
    let pinned = format!("{}=={}", d.name, d.version);
    let Some(du) = d.direct_url.as_ref().filter(|u| u.is_object()) else {
        return pinned;
    };
    let Some(url) = du.get("url").and_then(Value::as_str) else {
        return pinned;
    };
    let str_at = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    if du
        .pointer("/dir_info/editable")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        return format!("# Editable install ({pinned})\n-e {}", file_url_path(url));
    }
    let mut req = format!("{} @ ", d.name);
    let mut fragments = Vec::new();
    if let Some(vcs) = du.get("vcs_info") {
        let kind = str_at(vcs, "vcs").unwrap_or_else(|| "vcs".into());
        let commit = str_at(vcs, "commit_id").unwrap_or_default();
        req.push_str(&format!("{kind}+{url}@{commit}"));
    } else {
        req.push_str(url);
        if let Some(archive) = du.get("archive_info") {
            // pip takes the first of `hashes`; our map is key-ordered, so this is the
            // alphabetically first (`sha256` in practice); the legacy `hash` is `alg=value`.
            let hash = archive
                .get("hashes")
                .and_then(Value::as_object)
                .and_then(|h| h.iter().next())
                .and_then(|(alg, v)| v.as_str().map(|v| format!("{alg}={v}")))
                .or_else(|| str_at(archive, "hash"));
            fragments.extend(hash);
        }
    }
    if let Some(sub) = str_at(du, "subdirectory") {
        fragments.push(format!("subdirectory={sub}"));
    }
    if !fragments.is_empty() {
        req.push('#');
        req.push_str(&fragments.join("&"));
    }
    req
}

/// The dependency list in `pip freeze`'s default form: one entry per distribution (the first
/// found on `sys.path` wins, like pip), pip's default exclusions left out, sorted by
/// lowercased name (ties by text). Deterministic for a given environment: this is the text
/// `dependencies_sha256` hashes (docs/replay.md §2). Ends with a newline unless empty.
pub fn freeze_text(listing: &Listing) -> String {
    let mut seen = std::collections::HashSet::new();
    let mut entries: Vec<(String, String)> = listing
        .distributions
        .iter()
        .filter(|d| {
            let canonical = canonical_name(&d.name);
            !skipped_by_pip_freeze(&canonical, listing.version_info) && seen.insert(canonical)
        })
        .map(|d| (d.name.to_lowercase(), format_requirement(d)))
        .collect();
    entries.sort();
    entries.into_iter().map(|(_, e)| e + "\n").collect()
}

/// Runs [`DEPENDENCY_SCRIPT`] in `py` (at nice 10, like every capture probe).
pub fn capture_listing(
    py: &str,
    env: &BTreeMap<String, String>,
    timeout: Duration,
) -> Result<Listing, String> {
    let out = probe_background(&[py, "-c", DEPENDENCY_SCRIPT], env, timeout)
        .ok_or_else(|| format!("`{py} -c <importlib.metadata listing>` failed or timed out"))?;
    parse_listing(&out)
}

fn python_section(
    py: &str,
    env: &BTreeMap<String, String>,
    lines: &mut Vec<String>,
) -> (Value, Option<String>) {
    // One interpreter start for the version and the list. `pip freeze` (a second start, the
    // whole of pip imported, ≈ 0.3-0.6 s of CPU) only when that fails, e.g. Python < 3.8.
    let why = match capture_listing(py, env, Duration::from_secs(15)) {
        Ok(listing) => {
            let text = freeze_text(&listing);
            lines.push(format!("python: {}", listing.python.trim()));
            push_list(lines, &text);
            let mut deps = json!({ "method": "pip_freeze", "path": ENVIRONMENT_TXT, "source": SOURCE_IMPORTLIB });
            if listing.unreadable > 0 {
                deps["notes"] = json!([format!(
                    "{} distribution(s) with unreadable metadata left out",
                    listing.unreadable
                )]);
            }
            return (deps, Some(text));
        }
        Err(why) => why,
    };
    let version = probe_background(
        &[
            py,
            "-c",
            "import sys; print(sys.version.replace('\\n', ' '))",
        ],
        env,
        Duration::from_secs(10),
    );
    lines.push(format!(
        "python: {}",
        version.as_deref().map_or("unavailable", str::trim)
    ));
    match probe_background(&[py, "-m", "pip", "freeze"], env, Duration::from_secs(30)) {
        Some(freeze) => {
            push_list(lines, &freeze);
            let deps = json!({ "method": "pip_freeze", "path": ENVIRONMENT_TXT, "source": SOURCE_PIP,
                "notes": [format!("{why}; fell back to pip freeze")] });
            (deps, Some(freeze))
        }
        None => (
            json!({ "method": "unavailable",
                "notes": [why, format!("`{py} -m pip freeze` failed or timed out")] }),
            None,
        ),
    }
}

/// The list under the `pip_freeze:` heading of environment.txt (the heading names the
/// format; `dependencies.source` in run_config_resolved.json says how it was obtained).
fn push_list(lines: &mut Vec<String>, text: &str) {
    lines.push("pip_freeze:".into());
    lines.extend(text.lines().map(|l| format!("  {l}")));
}

/// `determinism_status` (§4A; `--strict-determinism` is not implemented: record and warn).
pub fn determinism_status(env: &BTreeMap<String, String>) -> Value {
    let pyhashseed_ok = env
        .get("PYTHONHASHSEED")
        .is_some_and(|v| v.parse::<u32>().is_ok());
    let cublas_config_ok = env
        .get("CUBLAS_WORKSPACE_CONFIG")
        .is_some_and(|v| v == ":4096:8" || v == ":16:8");
    let mut notes = Vec::new();
    if !pyhashseed_ok {
        notes.push("PYTHONHASHSEED not set to an integer");
    }
    if !cublas_config_ok {
        notes.push("CUBLAS_WORKSPACE_CONFIG not :4096:8 or :16:8");
    }
    json!({ "pyhashseed_ok": pyhashseed_ok, "cublas_config_ok": cublas_config_ok, "notes": notes, "mode": "standard" })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(name: &str, version: &str, direct_url: Option<Value>) -> Distribution {
        Distribution {
            name: name.into(),
            version: version.into(),
            direct_url,
        }
    }

    fn listing_of(version_info: (u32, u32), distributions: Vec<Distribution>) -> Listing {
        Listing {
            python: "3.x".into(),
            version_info,
            distributions,
            unreadable: 0,
        }
    }

    #[test]
    fn parses_the_script_output() {
        let out = concat!(
            r#"["3.11.7 (main, Nov 22 2026)\n[GCC 12.2.0]", [3, 11]]"#,
            "\n",
            r#"["Metadata-Version: 2.1\nName: torch\nVersion: 2.5.1\nSummary: x", null]"#,
            "\n",
            "null\n",
            r#"["Metadata-Version: 2.1\nName: nameless", null]"#,
            "\n",
            r#"["Name: veriscope\nversion: 0.1.0", "{\"url\": \"file:///src/python\", \"dir_info\": {\"editable\": true}}"]"#,
            "\n",
            r#"["Name: broken-url\nVersion: 1", "not json"]"#,
            "\n\n",
        );
        let l = parse_listing(out).unwrap();
        assert_eq!(l.python, "3.11.7 (main, Nov 22 2026) [GCC 12.2.0]");
        assert_eq!(l.version_info, (3, 11));
        assert_eq!(l.unreadable, 2);
        assert_eq!(
            l.distributions,
            vec![
                dist("torch", "2.5.1", None),
                dist(
                    "veriscope",
                    "0.1.0",
                    Some(json!({"url": "file:///src/python", "dir_info": {"editable": true}}))
                ),
                dist("broken-url", "1", None),
            ]
        );
        assert!(parse_listing("").is_err());
        assert!(parse_listing("Traceback (most recent call last):\n").is_err());
        assert!(parse_listing("[\"3.11\", [3, 11]]\n{\"x\": 1}\n").is_err());
        assert_eq!(
            parse_listing("[\"3.12.1\", [3, 12]]\n")
                .unwrap()
                .distributions,
            vec![]
        );
    }

    #[test]
    fn header_fields_are_found_case_insensitively() {
        let h = "Metadata-Version: 2.1\nNAME:  Foo.Bar \nSummary: a\n  Version: 9\nVersion: 1.2\nVersion: 3";
        assert_eq!(header_field(h, "name"), Some("Foo.Bar"));
        assert_eq!(header_field(h, "Version"), Some("1.2"));
        assert_eq!(header_field(h, "License"), None);
        assert_eq!(header_field("Name:\n", "Name"), None);
    }

    #[test]
    fn canonical_names_follow_pep_503() {
        assert_eq!(canonical_name("Foo.Bar__baz-"), "foo-bar-baz-");
        assert_eq!(canonical_name("typing_extensions"), "typing-extensions");
        assert_eq!(canonical_name("PyYAML"), "pyyaml");
    }

    #[test]
    fn requirements_are_formatted_like_pip_freeze() {
        assert_eq!(
            format_requirement(&dist("Jinja2", "3.1.6", None)),
            "Jinja2==3.1.6"
        );
        let editable =
            json!({"url": "file:///work/my%20src/python", "dir_info": {"editable": true}});
        assert_eq!(
            format_requirement(&dist("veriscope", "0.1.0", Some(editable))),
            "# Editable install (veriscope==0.1.0)\n-e /work/my src/python"
        );
        let vcs = json!({"url": "https://github.com/o/r.git", "vcs_info": {"vcs": "git", "commit_id": "abc123", "requested_revision": "main"}, "subdirectory": "pkg"});
        assert_eq!(
            format_requirement(&dist("r", "1.0", Some(vcs))),
            "r @ git+https://github.com/o/r.git@abc123#subdirectory=pkg"
        );
        let archive = json!({"url": "https://x/y-1.0.tar.gz", "archive_info": {"hashes": {"sha256": "ff", "md5": "00"}}});
        assert_eq!(
            format_requirement(&dist("y", "1.0", Some(archive))),
            "y @ https://x/y-1.0.tar.gz#md5=00"
        );
        let legacy = json!({"url": "https://x/y.whl", "archive_info": {"hash": "sha256=ee"}});
        assert_eq!(
            format_requirement(&dist("y", "1.0", Some(legacy))),
            "y @ https://x/y.whl#sha256=ee"
        );
        let dir = json!({"url": "file:///src/z", "dir_info": {}});
        assert_eq!(
            format_requirement(&dist("z", "2", Some(dir))),
            "z @ file:///src/z"
        );
        // Malformed direct_url.json: the plain pin.
        assert_eq!(
            format_requirement(&dist("w", "3", Some(json!({"dir_info": {}})))),
            "w==3"
        );
    }

    #[test]
    fn freeze_text_dedups_skips_and_sorts_deterministically() {
        let dists = vec![
            dist("typing_extensions", "4.16.0", None),
            dist("Jinja2", "3.1.6", None),
            dist("pip", "26.3", None),
            dist("setuptools", "80.0", None),
            dist("torch", "2.15.0", None),
            dist("Typing-Extensions", "1.0", None), // shadowed: later on sys.path
            dist("accelerate", "1.15.0", None),
        ];
        let expected =
            "accelerate==1.15.0\nJinja2==3.1.6\ntorch==2.15.0\ntyping_extensions==4.16.0\n";
        assert_eq!(freeze_text(&listing_of((3, 11), dists.clone())), expected);
        // Python ≥ 3.12: pip freeze no longer hides the build backends.
        let text = freeze_text(&listing_of((3, 12), dists.clone()));
        assert!(
            text.contains("setuptools==80.0\n") && !text.contains("pip=="),
            "{text}"
        );
        // Input order changes nothing but which duplicate wins.
        let mut reversed = dists;
        reversed.retain(|d| d.name != "Typing-Extensions");
        reversed.reverse();
        assert_eq!(freeze_text(&listing_of((3, 11), reversed)), expected);
        assert_eq!(freeze_text(&listing_of((3, 11), vec![])), "");
    }

    /// The project venv (docs: `${XDG_CACHE_HOME:-$HOME/.cache}/veriscope/venv`), if present.
    fn project_venv_python() -> Option<String> {
        let cache = std::env::var("XDG_CACHE_HOME")
            .ok()
            .filter(|s| !s.is_empty())
            .or_else(|| std::env::var("HOME").ok().map(|h| format!("{h}/.cache")))?;
        let py = format!("{cache}/veriscope/venv/bin/python");
        if std::path::Path::new(&py).exists() {
            Some(py)
        } else {
            eprintln!("SKIP: no project venv at {py}");
            None
        }
    }

    #[test]
    fn real_venv_capture_lists_torch_deterministically_without_pip() {
        let Some(py) = project_venv_python() else {
            return;
        };
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let capture = || {
            let mut lines = Vec::new();
            let (deps, text) = python_section(&py, &env, &mut lines);
            (deps, text.unwrap(), lines)
        };
        let (deps, first, lines) = capture();
        assert_eq!(deps["source"], SOURCE_IMPORTLIB, "{deps}");
        assert_eq!(deps["method"], "pip_freeze");
        assert!(first.lines().any(|l| l.starts_with("torch==")), "{first}");
        assert!(
            first.lines().any(|l| l.starts_with("transformers==")),
            "{first}"
        );
        assert!(lines[0].starts_with("python: 3."), "{lines:?}");
        assert_eq!(lines[1], "pip_freeze:");
        let (_, second, _) = capture();
        assert_eq!(first, second, "two captures differ");
        // The listing never imports pip (the point of it).
        let out = Command::new(&py)
            .args(["-X", "importtime", "-c", DEPENDENCY_SCRIPT])
            .stdout(Stdio::null())
            .output()
            .unwrap();
        let imports = String::from_utf8_lossy(&out.stderr);
        assert!(
            !imports.lines().any(|l| l
                .rsplit('|')
                .next()
                .is_some_and(|m| m.trim().starts_with("pip"))),
            "pip imported:\n{imports}"
        );
    }

    #[test]
    fn real_venv_capture_matches_pip_freeze() {
        let Some(py) = project_venv_python() else {
            return;
        };
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let Some(freeze) = probe(&[&py, "-m", "pip", "freeze"], &env, Duration::from_secs(60))
        else {
            eprintln!("SKIP: `{py} -m pip freeze` failed");
            return;
        };
        let ours = freeze_text(&capture_listing(&py, &env, Duration::from_secs(30)).unwrap());
        // Pins and direct references agree line for line. Editable installs differ by design
        // (pip asks the VCS and writes `-e git+<remote>@<sha>#egg=...` when the project is a
        // git checkout, as in CI's clone; we write `-e <path>`), so they are compared by count.
        let keep = |t: &str| -> Vec<String> {
            t.lines()
                .filter(|l| !l.starts_with('#') && !l.starts_with("-e "))
                .map(str::to_string)
                .collect()
        };
        let editable = |t: &str| t.lines().filter(|l| l.starts_with("-e ")).count();
        assert_eq!(keep(&ours), keep(&freeze));
        assert_eq!(editable(&ours), editable(&freeze));
    }

    #[test]
    fn falls_back_to_pip_freeze_then_to_unavailable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("veriscope-envtest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A "Python" whose importlib.metadata listing fails (as on Python < 3.8) but whose
        // `-c` version probe and `-m pip freeze` answer; and one where everything fails.
        let fake = dir.join("python-old");
        std::fs::write(
            &fake,
            "#!/bin/sh\ncase \"$2\" in *importlib*) exit 1;; esac\n\
             if [ \"$1\" = -m ]; then printf 'b==2\\na==1\\n'; exit 0; fi\necho '3.7.0 fake'\n",
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let mut lines = Vec::new();
        let (deps, text) = python_section(fake.to_str().unwrap(), &env, &mut lines);
        assert_eq!(deps["method"], "pip_freeze");
        assert_eq!(deps["source"], SOURCE_PIP);
        assert!(
            deps["notes"][0]
                .as_str()
                .unwrap()
                .contains("fell back to pip freeze")
        );
        assert_eq!(text.as_deref(), Some("b==2\na==1\n"));
        assert_eq!(
            lines,
            ["python: 3.7.0 fake", "pip_freeze:", "  b==2", "  a==1"]
        );

        let mut lines = Vec::new();
        let (deps, text) = python_section("/nonexistent/python", &env, &mut lines);
        assert_eq!(deps["method"], "unavailable");
        assert_eq!(deps["notes"].as_array().unwrap().len(), 2);
        assert_eq!(text, None);
        assert_eq!(lines, ["python: unavailable"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn determinism_reads_env() {
        let mut env = BTreeMap::new();
        env.insert("PYTHONHASHSEED".to_string(), "0".to_string());
        let d = determinism_status(&env);
        assert_eq!(d["pyhashseed_ok"], true);
        assert_eq!(d["cublas_config_ok"], false);
    }

    #[test]
    fn probe_times_out_and_reports_failure() {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        assert_eq!(
            probe(&["sh", "-c", "echo hi"], &env, Duration::from_secs(5)).as_deref(),
            Some("hi\n")
        );
        assert_eq!(
            probe(&["sh", "-c", "exit 1"], &env, Duration::from_secs(5)),
            None
        );
        assert_eq!(
            probe(&["sleep", "5"], &env, Duration::from_millis(100)),
            None
        );
        assert_eq!(
            probe(&["/nonexistent/tool"], &env, Duration::from_secs(1)),
            None
        );
    }

    #[test]
    fn background_probe_runs_niced_with_the_same_answers() {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let niceness = |out: Option<String>| out.and_then(|s| s.trim().parse::<i32>().ok());
        let ours = niceness(probe(&["nice"], &env, Duration::from_secs(5))).unwrap();
        let background = niceness(probe_background(&["nice"], &env, Duration::from_secs(5)));
        assert_eq!(background, Some((ours + 10).min(19)));
        assert_eq!(
            probe_background(&["sh", "-c", "exit 1"], &env, Duration::from_secs(5)),
            None
        );
        assert_eq!(
            probe_background(&["/nonexistent/tool"], &env, Duration::from_secs(1)),
            None
        );
    }
}

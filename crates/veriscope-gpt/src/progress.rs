//! Progress display on stderr: an indicatif bar on a terminal, otherwise plain lines about
//! every 10% of the run (so logs captured by the wrapper stay readable).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// One progress update.
#[derive(Debug, Clone, Default)]
pub struct Progress<'a> {
    pub iter: u64,
    pub loss: Option<f64>,
    pub tokens_per_s: f64,
    pub decision: Option<&'a str>,
}

impl Progress<'_> {
    fn message(&self) -> String {
        let loss = self.loss.map_or("n/a".to_string(), |l| format!("{l:.4}"));
        let mut msg = format!("loss {loss} | {:.0} tok/s", self.tokens_per_s);
        if let Some(d) = self.decision {
            msg.push_str(&format!(" | gate {d}"));
        }
        msg
    }
}

/// Bar or plain lines, chosen once at start.
pub enum Reporter {
    Bar(ProgressBar),
    Lines { total: u64, every: u64 },
}

impl Reporter {
    pub fn new(total: u64) -> Self {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total);
            let style =
                ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
                    .expect("static template")
                    .progress_chars("=> ");
            bar.set_style(style);
            Self::Bar(bar)
        } else {
            Self::Lines {
                total,
                every: (total / 10).max(1),
            }
        }
    }

    /// Reports iteration `p.iter` (0-based) as done.
    pub fn update(&self, p: &Progress<'_>) {
        match self {
            Self::Bar(bar) => {
                bar.set_position(p.iter + 1);
                bar.set_message(p.message());
            }
            Self::Lines { total, every } => {
                let done = p.iter + 1;
                if done.is_multiple_of(*every) || done == *total {
                    eprintln!("veriscope-gpt: iter {done}/{total} | {}", p.message());
                }
            }
        }
    }

    /// A one-off line (eval results, checkpoints) that does not garble the bar.
    pub fn note(&self, text: &str) {
        match self {
            Self::Bar(bar) => bar.println(format!("veriscope-gpt: {text}")),
            Self::Lines { .. } => eprintln!("veriscope-gpt: {text}"),
        }
    }

    pub fn finish(&self) {
        if let Self::Bar(bar) = self {
            bar.finish();
        }
    }
}

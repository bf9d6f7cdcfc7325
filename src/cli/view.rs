//! The live view on a terminal: one progress bar per rolling server group, with log lines
//! printed above the bars rather than through them.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use reroll::apply::progress::{Progress, RolloutProgress};
use reroll::plan::human_duration;

/// The terminal's bars; log lines go through it so that they do not tear them.
pub fn multi() -> &'static MultiProgress {
    static MULTI: OnceLock<MultiProgress> = OnceLock::new();
    MULTI.get_or_init(MultiProgress::new)
}

/// A writer for log lines that prints above the bars.
pub struct AboveBars;

impl Write for AboveBars {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        multi().suspend(|| std::io::stderr().write_all(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Bars keyed by server group address.
#[derive(Default)]
pub struct LiveView {
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl LiveView {
    pub fn progress(self: Arc<Self>) -> Progress {
        Progress::new(move |p| self.update(p))
    }

    fn update(&self, p: &RolloutProgress) {
        let mut bars = self.bars.lock().expect("bars lock");
        let bar = bars.entry(p.address.clone()).or_insert_with(|| {
            let bar = multi().add(ProgressBar::new(u64::from(p.desired)));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:.bold} [{bar:24.green/dim}] {pos:>4}/{len:<4} {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(format!("{:<28}", p.address));
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        let generation = match p.from {
            Some(from) => format!("v{from:03} → v{:03}", p.to),
            None => format!("v{:03}", p.to),
        };
        bar.set_length(u64::from(p.desired));
        bar.set_position(u64::from(p.healthy));
        match &p.finished {
            Some(result) => bar.finish_with_message(format!(
                "{generation}  {result} in {}",
                human_duration(p.elapsed.as_secs())
            )),
            None => bar.set_message(format!(
                "{generation}  launching {}, old {} serving, {} draining, {} waves  {} of ~{}",
                p.launching,
                p.old_serving,
                p.draining,
                p.waves,
                human_duration(p.elapsed.as_secs()),
                human_duration(p.estimate.as_secs()),
            )),
        }
    }
}

//! The picture of an apply (`apply --report FILE`): one self-contained HTML page (inline CSS,
//! SVG and a few lines of script; nothing is fetched) with the result and exit code, the
//! changes, and per rolled-out server group its capacity over time, its planned waves with
//! when each started, was healthy and had drained, and the events of the apply.
//!
//! [`Recorder`] is the progress sink that collects what to draw. [`build`] turns what it
//! collected, the plan and the outcome into a [`Report`]; what it is built from holds no
//! sensitive value (the plan shows them as `(sensitive)`, and the loader refuses them
//! wherever a message could quote them). [`render`] is pure: a report in, HTML out.
//!
//! `types.rs` holds the report's parts and the recorder, `build.rs` builds a report,
//! `render.rs` renders the page, `chart.rs` draws a rollout's capacity chart, and `html.rs`
//! holds what the page's parts share.

mod build;
mod chart;
mod html;
mod render;
#[cfg(test)]
mod tests;
mod types;

pub use build::build;
pub use render::render;
pub use types::{ChangeRow, Event, Input, Point, Recorder, Report, Rollout};

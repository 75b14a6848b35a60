//! Metrics: the engine's state in the Prometheus text exposition format (0.0.4), for the cloud's
//! `GET /metrics`. Everything is read at scrape time and costs little however large the history:
//! task counts come from the maintained `task_counts` totals (one index seek per user), token and
//! cost totals from running sums that each scrape extends with the `token_usage` rows added since
//! the last one (the first scrape sums them all, once), the rest from the event hub's counters.
//!
//! The encoder is the small subset the format needs (HELP and TYPE lines, labels, escaping), not a
//! client library: these values are snapshots taken per scrape, not instruments kept in a registry.

use std::fmt::Write as _;

use tokio::sync::Mutex;

use crate::core::Core;
use crate::core::auth::{Caller, EMBEDDED_USER_ID};
use crate::core::error::{Result, ShannonError};
use crate::core::run::TaskStatus;
use crate::core::store;

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Token usage summed up to `token_usage.id == after_id`, kept between scrapes.
#[derive(Debug, Default)]
pub(crate) struct UsageTally(Mutex<Tally>);

#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    after_id: i64,
    input_tokens: i64,
    output_tokens: i64,
    cost_usd: f64,
}

impl Core {
    /// The exposition. The metrics describe every user's tasks in this process, so only the app's
    /// own user (the launch token, the embedded webview) may read them.
    pub async fn metrics(&self, caller: &Caller) -> Result<String> {
        if caller.user_id != EMBEDDED_USER_ID {
            return Err(ShannonError::PermissionDenied(
                "metrics are for the app's own user".into(),
            ));
        }
        let counts = self
            .store()
            .read(store::task_reads::counts_by_status)
            .await?;
        let usage = self.usage_totals().await?;
        let hub = &self.engine().hub;
        let backlog = hub.backlog();

        let mut out = Exposition::default();
        out.family("shannon_build_info", "gauge", "The running build.");
        out.sample(
            "shannon_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))],
            1.0,
        );
        out.family("shannon_tasks", "gauge", "Tasks stored, by status.");
        for status in TaskStatus::ALL {
            let n = counts
                .iter()
                .filter(|(s, _)| s == status.db())
                .map(|(_, n)| *n)
                .sum::<i64>();
            let label = status.db().to_ascii_lowercase();
            out.sample("shannon_tasks", &[("status", &label)], n as f64);
        }
        out.family(
            "shannon_tokens_total",
            "counter",
            "Model tokens used by tasks, by direction.",
        );
        out.sample(
            "shannon_tokens_total",
            &[("direction", "input")],
            usage.input_tokens as f64,
        );
        out.sample(
            "shannon_tokens_total",
            &[("direction", "output")],
            usage.output_tokens as f64,
        );
        out.family(
            "shannon_cost_usd_total",
            "counter",
            "Estimated cost of model calls, in US dollars.",
        );
        out.sample("shannon_cost_usd_total", &[], usage.cost_usd);
        let gauges: [(&str, &str, &str, f64); 5] = [
            (
                "shannon_events_total",
                "counter",
                "Task events emitted since the process started.",
                hub.events_emitted() as f64,
            ),
            (
                "shannon_event_backlog_events",
                "gauge",
                "Events emitted and not yet stored.",
                backlog.events as f64,
            ),
            (
                "shannon_event_backlog_bytes",
                "gauge",
                "Approximate size of the events not yet stored.",
                backlog.bytes as f64,
            ),
            (
                "shannon_live_streams",
                "gauge",
                "Tasks whose event stream is open (running or ending).",
                hub.live_streams() as f64,
            ),
            (
                "shannon_subscriptions",
                "gauge",
                "Open subscriptions to task events (SSE, WebSocket, IPC).",
                hub.subscriptions() as f64,
            ),
        ];
        for (name, kind, help, value) in gauges {
            out.family(name, kind, help);
            out.sample(name, &[], value);
        }
        out.family(
            "shannon_event_store_failing",
            "gauge",
            "1 while the event writer's commits fail (a full disk); it keeps retrying.",
        );
        out.sample(
            "shannon_event_store_failing",
            &[],
            f64::from(u8::from(backlog.failing)),
        );
        if let Some(rss) = resident_bytes() {
            out.family(
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
            );
            out.sample("process_resident_memory_bytes", &[], rss as f64);
        }
        Ok(out.0)
    }

    /// Token and cost totals over all usage rows: the running sums plus the rows added since.
    async fn usage_totals(&self) -> Result<Tally> {
        // Held across the read, so two scrapes never add the same rows twice.
        let mut tally = self.metrics_tally().0.lock().await;
        let after = tally.after_id;
        let new = self
            .store()
            .read(move |c| store::steps::usage_since(c, after))
            .await?;
        tally.after_id = new.last_id;
        tally.input_tokens += new.input_tokens;
        tally.output_tokens += new.output_tokens;
        tally.cost_usd += new.cost_usd;
        Ok(*tally)
    }
}

/// The text being built: `# HELP`, `# TYPE` and sample lines.
#[derive(Default)]
struct Exposition(String);

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        // HELP text escapes only backslash and newline.
        let help = help.replace('\\', r"\\").replace('\n', r"\n");
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            let inner: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                .collect();
            let _ = write!(self.0, "{{{}}}", inner.join(","));
        }
        let _ = writeln!(self.0, " {}", number(value));
    }
}

/// Label values escape backslash, double quote and newline.
fn escape_label(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

/// A sample value as the format spells it (Go's `ParseFloat` reads Rust's `Display` of a finite
/// float; the special values have their own spellings).
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        v.to_string()
    }
}

/// The process's resident set, from `/proc/self/statm` (pages) and the page size; `None` where
/// there is no such file (the metric is then left out).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(page).ok().map(|p| pages * p)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn resident_bytes() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_help_are_escaped() {
        let mut e = Exposition::default();
        e.family("m", "gauge", "a \\ b\nc");
        e.sample("m", &[("v", "q\"\\\n")], 1.5);
        e.sample("m", &[], f64::INFINITY);
        assert_eq!(
            e.0,
            "# HELP m a \\\\ b\\nc\n# TYPE m gauge\nm{v=\"q\\\"\\\\\\n\"} 1.5\nm +Inf\n"
        );
    }

    #[test]
    fn whole_numbers_have_no_fraction() {
        assert_eq!(number(42.0), "42");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(f64::NAN), "NaN");
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn resident_memory_is_read() {
        assert!(resident_bytes().is_some_and(|b| b > 1024 * 1024));
    }
}

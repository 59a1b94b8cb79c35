//! Where a sequential pod's time goes: the library's `wasmpod::step` trace
//! events (see the library's "Tracing" docs), recorded with their times while
//! pods run one at a time, then the median time between consecutive steps.
//!
//! Pods must not overlap while recording: the steps of one pod are told apart
//! from the next only by `create`, the first of them. Medians as
//! [`crate::latency::spread`] gives them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// The steps recorded so far, shared with the layer.
#[derive(Clone, Default)]
pub struct Steps(Arc<Mutex<Vec<(String, Instant)>>>);

/// At most this many steps are kept (about 1,400 sequential pods' worth).
const MAX_STEPS: usize = 20_000;

impl Steps {
    /// Installs the recorder as the process's subscriber; `None` if one was set.
    pub fn install() -> Option<Steps> {
        let steps = Steps::default();
        let subscriber = tracing_subscriber::registry().with(Recorder(steps.clone()));
        tracing::subscriber::set_global_default(subscriber).ok()?;
        Some(steps)
    }

    /// Markdown rows `| from → to | pods | median µs |`, in the order of the
    /// transitions' median start after `create`, for those seen in at least half
    /// of the pods.
    pub fn table(&self) -> Vec<String> {
        let steps = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        let mut pods: Vec<Vec<(String, Instant)>> = Vec::new();
        for (step, at) in steps {
            if step == "create" {
                pods.push(Vec::new());
            }
            if let Some(pod) = pods.last_mut() {
                pod.push((step, at));
            }
        }
        // Threads record in the order they get the lock, not of their clocks.
        for pod in &mut pods {
            pod.sort_by_key(|(_, at)| *at);
        }
        // Each transition's gaps, and how long after `create` it began.
        type Seen = (Vec<Duration>, Vec<Duration>);
        let mut seen: HashMap<(&str, &str), Seen> = HashMap::new();
        for pod in &pods {
            for pair in pod.windows(2) {
                let key = (pair[0].0.as_str(), pair[1].0.as_str());
                let (gaps, began) = seen.entry(key).or_default();
                gaps.push(pair[1].1 - pair[0].1);
                began.push(pair[0].1 - pod[0].1);
            }
        }
        let mut rows: Vec<(f64, String)> = seen
            .into_iter()
            .filter(|(_, (gaps, _))| gaps.len() * 2 >= pods.len())
            .map(|((from, to), (mut gaps, mut began))| {
                let (median, _, _) = crate::latency::spread(&mut gaps);
                let (at, _, _) = crate::latency::spread(&mut began);
                let row = format!("| {from} → {to} | {} | {median:.1} |", gaps.len());
                (at, row)
            })
            .collect();
        rows.sort_by(|a, b| a.0.total_cmp(&b.0));
        rows.into_iter().map(|(_, row)| row).collect()
    }
}

struct Recorder(Steps);

impl<S: Subscriber> Layer<S> for Recorder {
    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        metadata.target() == "wasmpod::step" && *metadata.level() == Level::TRACE
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let at = Instant::now();
        let mut visit = StepName(None);
        event.record(&mut visit);
        if let Some(step) = visit.0 {
            let mut steps = self.0.0.lock().unwrap_or_else(|e| e.into_inner());
            if steps.len() < MAX_STEPS {
                steps.push((step, at));
            }
        }
    }
}

/// The event's `step` field.
struct StepName(Option<String>);

impl Visit for StepName {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "step" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

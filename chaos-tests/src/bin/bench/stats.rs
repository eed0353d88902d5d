//! Percentiles of a sample, and the figures every scenario prints with
//! them.

use serde_json::{Value, json};

/// The `p` quantile (0..=1) of a sorted sample by the nearest rank; NaN
/// (JSON `null`) for an empty one.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// p50, p99 and max of a sample, in the sample's unit.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    pub n: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Summary {
    /// Summarises `sample` (sorted here).
    pub fn of(mut sample: Vec<f64>) -> Summary {
        sample.sort_by(f64::total_cmp);
        Summary {
            n: sample.len(),
            p50: percentile(&sample, 0.5),
            p99: percentile(&sample, 0.99),
            max: sample.last().copied().unwrap_or(f64::NAN),
        }
    }

    /// `{"<prefix>_p50": .., "<prefix>_p99": .., "<prefix>_max": ..}`,
    /// rounded to microseconds when the unit is ms.
    pub fn fields(&self, prefix: &str) -> Value {
        json!({
            format!("{prefix}_p50"): round3(self.p50),
            format!("{prefix}_p99"): round3(self.p99),
            format!("{prefix}_max"): round3(self.max),
        })
    }
}

impl Default for Summary {
    /// The summary of no sample: NaN figures, `null` in JSON.
    fn default() -> Self {
        Summary::of(Vec::new())
    }
}

/// Three decimals: sub-millisecond figures stay readable in JSON.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Adds every field of `extra` (an object) to `base` (an object).
pub fn merge(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}

//! The sink's requests as the scenarios count them: which job, which
//! scheduled instant, when received, and whether the sink kept the effect.

use chaos_tests::sink::{Hit, Sink};

/// One request at the sink.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub job_id: String,
    /// The scheduled instant (the `X-Scheduler-Scheduled-At` header), ms.
    pub scheduled_ms: i64,
    /// Receive time at the sink, ms with sub-millisecond precision.
    pub received_ms: f64,
    /// Whether the sink kept it (first effect, token not stale).
    pub accepted: bool,
    pub fencing_token: u64,
}

impl Delivery {
    /// Sink receive time minus the scheduled instant.
    pub fn lateness_ms(&self) -> f64 {
        self.received_ms - self.scheduled_ms as f64
    }

    /// The log index of the entry that authorised this attempt (tokens
    /// are `index << 16 | position`).
    pub fn log_index(&self) -> u64 {
        store::model::FencingToken::from_u64(self.fencing_token).log_index()
    }

    fn parse(h: &Hit) -> Option<Delivery> {
        let at = chrono::DateTime::parse_from_rfc3339(&h.scheduled_at).ok()?;
        let received_ms = h
            .received_at
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs_f64()
            * 1000.0;
        Some(Delivery {
            job_id: h.job_id.clone(),
            scheduled_ms: at.timestamp_millis(),
            received_ms,
            accepted: h.accepted,
            fencing_token: h.fencing_token,
        })
    }
}

/// Reads the sink's requests incrementally, parsing each once.
pub struct Tracker {
    sink: Sink,
    seen: usize,
    /// Requests whose scheduled instant did not parse (a contract break).
    pub unparsable: u64,
}

impl Tracker {
    /// Starts with the requests that arrive from now on.
    pub fn from_now(sink: &Sink) -> Tracker {
        Tracker {
            sink: sink.clone(),
            seen: sink.len(),
            unparsable: 0,
        }
    }

    /// The requests that arrived since the last call.
    pub fn pull(&mut self) -> Vec<Delivery> {
        let hits = self.sink.hits_since(self.seen);
        self.seen += hits.len();
        let mut out = Vec::with_capacity(hits.len());
        for h in &hits {
            match Delivery::parse(h) {
                Some(d) => out.push(d),
                None => self.unparsable += 1,
            }
        }
        out
    }
}

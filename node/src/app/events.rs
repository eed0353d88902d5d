//! The recent events of this node, numbered so that a watcher can resume
//! where it stopped (the HTTP API's server-sent events and
//! `Last-Event-ID`).
//!
//! An event's id is `<log index>-<position>`: the Raft log index of the
//! entry that produced it and its position among that entry's events.
//! Every node applies the same entries in the same order and produces the
//! same events, so an id names the same event on every member, and a
//! watcher may resume on another node.
//!
//! The node keeps the last [`REPLAY_CAPACITY`] events. A resume from an
//! id older than that (or across a gap: this node fell behind the state
//! machine's channel, or installed a snapshot, which carries no events)
//! cannot be served honestly; [`EventLog::since`] says so with
//! [`Resume::Gap`], and the watcher must re-read the state.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use store::state::Event;
use tokio::sync::broadcast;

/// Events kept for resuming watchers (about 2 MB at 200 bytes each).
pub const REPLAY_CAPACITY: usize = 10_000;

/// Live events a slow watcher may fall behind by before it is told so.
const LIVE_CAPACITY: usize = 4096;

/// Where an event sits in the log: `(log index, position in its entry)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId {
    /// The log index of the entry that produced it.
    pub index: u64,
    /// Its position among that entry's events, from 0.
    pub pos: u32,
}

impl std::fmt::Display for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.index, self.pos)
    }
}

impl std::str::FromStr for EventId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (i, p) = s
            .trim()
            .split_once('-')
            .ok_or_else(|| format!("{s:?} is not an event id: expected <log index>-<position>"))?;
        let index = i
            .parse()
            .map_err(|_| format!("{s:?}: the log index {i:?} is not a number"))?;
        let pos = p
            .parse()
            .map_err(|_| format!("{s:?}: the position {p:?} is not a number"))?;
        Ok(EventId { index, pos })
    }
}

/// An event with its id.
#[derive(Clone, Debug)]
pub struct Numbered {
    /// Its id.
    pub id: EventId,
    /// The event (shared with the other subscribers of the state's events).
    pub event: Arc<Event>,
}

/// What a resume from an id gets.
pub enum Resume {
    /// Every event after the id that this node still holds, in order
    /// (possibly none), then the live ones.
    From(Vec<Numbered>),
    /// Events after the id are no longer held here: re-read the state.
    Gap,
}

struct Ring {
    events: VecDeque<Numbered>,
    /// Every event after this id is in `events` (or still to come). `None`
    /// until the first event: nothing before start-up is held.
    complete_after: Option<EventId>,
}

/// The numbered recent events, and a channel of the live ones.
#[derive(Clone)]
pub struct EventLog {
    ring: Arc<Mutex<Ring>>,
    live: broadcast::Sender<Numbered>,
}

impl EventLog {
    /// Numbers the events of `source` from now on (a task that ends when
    /// the state machine does). Must run inside a tokio runtime.
    pub fn start(source: broadcast::Receiver<Arc<Event>>) -> Self {
        let (live, _) = broadcast::channel(LIVE_CAPACITY);
        let log = EventLog {
            ring: Arc::new(Mutex::new(Ring {
                events: VecDeque::new(),
                complete_after: None,
            })),
            live,
        };
        tokio::spawn(log.clone().number(source));
        log
    }

    async fn number(self, mut source: broadcast::Receiver<Arc<Event>>) {
        let mut last: Option<EventId> = None;
        // After a loss, the rest of a partly lost entry is dropped too: its
        // positions are unknown.
        let mut resync: Option<Option<u64>> = None;
        loop {
            match source.recv().await {
                Ok(event) => {
                    if let Some(first) = resync {
                        match first {
                            None => {
                                resync = Some(Some(event.log_index));
                                continue;
                            }
                            Some(i) if i == event.log_index => continue,
                            Some(_) => resync = None,
                        }
                    }
                    let id = match last {
                        Some(l) if l.index == event.log_index => EventId {
                            index: l.index,
                            pos: l.pos + 1,
                        },
                        _ => EventId {
                            index: event.log_index,
                            pos: 0,
                        },
                    };
                    last = Some(id);
                    self.push(Numbered { id, event });
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    // Events were lost here: nothing before this point can
                    // be replayed.
                    tracing::warn!(
                        lost = n,
                        "event log fell behind; resumes from before now will be refused"
                    );
                    let mut ring = self.lock();
                    ring.events.clear();
                    ring.complete_after = None;
                    last = None;
                    resync = Some(None);
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        // A panic while holding the lock leaves a consistent ring (every
        // change is one push or one clear), so a poisoned lock is usable.
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, n: Numbered) {
        let mut ring = self.lock();
        if ring.complete_after.is_none() {
            // The first event seen: resumes from just before it are whole.
            ring.complete_after = Some(match n.id.pos {
                0 => EventId {
                    index: n.id.index.saturating_sub(1),
                    pos: u32::MAX,
                },
                p => EventId {
                    index: n.id.index,
                    pos: p - 1,
                },
            });
        }
        if ring.events.len() == REPLAY_CAPACITY
            && let Some(old) = ring.events.pop_front()
        {
            ring.complete_after = Some(old.id);
        }
        ring.events.push_back(n.clone());
        // Sent under the lock, so a subscriber that copied the ring under
        // it sees each event exactly once: in the copy or on the channel.
        let _ = self.live.send(n);
    }

    /// The live events from now on, and the held ones after `after` (all
    /// held ones when `None`: a fresh watcher gets only live events).
    pub fn since(&self, after: Option<EventId>) -> (Resume, broadcast::Receiver<Numbered>) {
        let ring = self.lock();
        let rx = self.live.subscribe();
        let Some(after) = after else {
            return (Resume::From(Vec::new()), rx);
        };
        let whole = ring.complete_after.is_some_and(|c| after >= c);
        if !whole {
            return (Resume::Gap, rx);
        }
        let held = ring
            .events
            .iter()
            .filter(|n| n.id > after)
            .cloned()
            .collect();
        (Resume::From(held), rx)
    }
}

/// A change of leader as this node sees it (node-local: not in the log,
/// so it has no event id).
#[derive(Clone, Copy, Debug)]
pub struct LeaderChange {
    /// The new leader; `None` while none is known.
    pub leader: Option<u64>,
    /// The term this node is in.
    pub term: u64,
}

impl super::App {
    /// Leadership changes as this node sees them, from now on: what every
    /// event watcher (gRPC and HTTP) adds for watchers of all jobs.
    pub fn leader_changes(&self) -> impl tokio_stream::Stream<Item = LeaderChange> + Send + use<> {
        use tokio_stream::StreamExt;
        let metrics = self.node.raft.metrics();
        let mut last = metrics.borrow().current_leader;
        tokio_stream::wrappers::WatchStream::from_changes(metrics).filter_map(move |m| {
            let leader = m.current_leader;
            if leader == last {
                return None;
            }
            last = leader;
            Some(LeaderChange {
                leader,
                term: m.current_term,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::state::EventKind;

    fn event(index: u64, job: &str) -> Event {
        Event {
            kind: EventKind::JobAdded,
            at: 0,
            log_index: index,
            job_id: job.into(),
            occurrence: None,
            node_id: None,
            token: None,
            detail: String::new(),
            cause: None,
            by: String::new(),
        }
    }

    async fn settle(log: &EventLog, n: usize) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while log.lock().events.len() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "awaited {n} numbered events"
            );
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn ids_number_events_within_their_entry_and_resume_after_one() {
        let (tx, rx) = broadcast::channel(64);
        let log = EventLog::start(rx);
        for (i, j) in [(5, "a"), (5, "b"), (6, "c"), (8, "d"), (8, "e")] {
            tx.send(Arc::new(event(i, j))).unwrap();
        }
        settle(&log, 5).await;
        let (Resume::From(held), _) = log.since(Some("5-0".parse().unwrap())) else {
            panic!("5-0 is held");
        };
        let ids: Vec<String> = held.iter().map(|n| n.id.to_string()).collect();
        assert_eq!(ids, ["5-1", "6-0", "8-0", "8-1"]);
        let (Resume::From(held), _) = log.since(Some("8-1".parse().unwrap())) else {
            panic!("8-1 is held");
        };
        assert!(held.is_empty());
        // Before the first event seen: not held.
        assert!(matches!(
            log.since(Some("3-0".parse().unwrap())).0,
            Resume::Gap
        ));
        // Just before the first entry: whole.
        assert!(matches!(
            log.since(Some(EventId {
                index: 4,
                pos: u32::MAX
            }))
            .0,
            Resume::From(v) if v.len() == 5
        ));
    }

    #[tokio::test]
    async fn a_full_ring_refuses_resumes_older_than_it_holds() {
        let (tx, rx) = broadcast::channel(REPLAY_CAPACITY + 10);
        let log = EventLog::start(rx);
        for i in 1..=(REPLAY_CAPACITY as u64 + 2) {
            tx.send(Arc::new(event(i, "a"))).unwrap();
        }
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while log.lock().events.back().map(|n| n.id.index) != Some(REPLAY_CAPACITY as u64 + 2) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "awaited the last event"
            );
            tokio::task::yield_now().await;
        }
        assert!(matches!(
            log.since(Some("1-0".parse().unwrap())).0,
            Resume::Gap
        ));
        assert!(matches!(
            log.since(Some("2-0".parse().unwrap())).0,
            Resume::From(v) if v.len() == REPLAY_CAPACITY
        ));
    }

    #[test]
    fn bad_ids_say_what_is_expected() {
        assert!(
            "12".parse::<EventId>()
                .unwrap_err()
                .contains("<log index>-<position>")
        );
        assert!("x-1".parse::<EventId>().unwrap_err().contains("log index"));
    }
}

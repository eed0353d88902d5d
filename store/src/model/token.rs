//! The fencing token's layout, in one place.

use super::MAX_ATTEMPTS_PER_ENTRY;

/// A fencing token: the index of the log entry that authorised the
/// attempt, then the attempt's position within that entry
/// (`index << 16 | position`). Tokens are unique per attempt and increase
/// with the log, across every failover (docs/guarantees.md, "The fencing
/// token"). On the
/// wire and in the state it is the plain `u64`; this type owns the layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FencingToken(u64);

/// Bits of the position within an entry.
const POSITION_BITS: u32 = 16;
const _: () = assert!(MAX_ATTEMPTS_PER_ENTRY == 1 << POSITION_BITS);

impl FencingToken {
    /// The token of the attempt at `position` in the entry at `log_index`;
    /// `None` when the position does not fit (more than
    /// [`MAX_ATTEMPTS_PER_ENTRY`] attempts in one entry) or the index is
    /// too large.
    pub fn new(log_index: u64, position: usize) -> Option<FencingToken> {
        if position >= MAX_ATTEMPTS_PER_ENTRY || log_index >> (64 - POSITION_BITS) != 0 {
            return None;
        }
        Some(FencingToken((log_index << POSITION_BITS) | position as u64))
    }

    /// A token as carried on the wire.
    pub fn from_u64(token: u64) -> FencingToken {
        FencingToken(token)
    }

    /// The token as carried on the wire (decimal in the executor contract).
    pub fn get(self) -> u64 {
        self.0
    }

    /// The index of the log entry that authorised the attempt.
    pub fn log_index(self) -> u64 {
        self.0 >> POSITION_BITS
    }

    /// The attempt's position within that entry.
    pub fn position(self) -> usize {
        (self.0 & ((1 << POSITION_BITS) - 1)) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_round_trips_and_orders_by_log_then_position() {
        let t = FencingToken::new(42, 3).expect("fits");
        assert_eq!(t.get(), (42 << 16) | 3);
        assert_eq!((t.log_index(), t.position()), (42, 3));
        assert_eq!(FencingToken::from_u64(t.get()), t);
        assert!(FencingToken::new(42, 65_535) < FencingToken::new(43, 0));
        assert_eq!(FencingToken::new(1, MAX_ATTEMPTS_PER_ENTRY), None);
        assert_eq!(FencingToken::new(u64::MAX, 0), None);
    }
}

//! A bounded tail of a byte stream: the last `cap` bytes, whatever the
//! stream's length, so a chatty job never grows the node's memory or the
//! replicated log.

use std::collections::VecDeque;

/// The last `cap` bytes pushed, plus how many bytes were seen in all.
#[derive(Debug)]
pub struct Tail {
    buf: VecDeque<u8>,
    cap: usize,
    seen: u64,
}

impl Tail {
    /// An empty tail keeping at most `cap` bytes.
    pub fn new(cap: usize) -> Self {
        Tail {
            buf: VecDeque::with_capacity(cap.min(64 * 1024)),
            cap,
            seen: 0,
        }
    }

    /// Appends `bytes`, dropping the oldest bytes beyond the cap.
    pub fn push(&mut self, bytes: &[u8]) {
        self.seen = self.seen.saturating_add(bytes.len() as u64);
        // Only the end of a chunk larger than the cap can survive.
        let bytes = &bytes[bytes.len().saturating_sub(self.cap)..];
        let overflow = (self.buf.len() + bytes.len()).saturating_sub(self.cap);
        self.buf.drain(..overflow);
        self.buf.extend(bytes);
    }

    /// Appends a line of ours (a timeout, a broken connection) after the
    /// job's output, marked so it is not taken for the job's own.
    pub fn note(&mut self, msg: &str) {
        let sep = if self.seen == 0 { "" } else { "\n" };
        self.push(format!("{sep}[schedulerd] {msg}\n").as_bytes());
    }

    /// Bytes pushed in all, including those dropped.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// The kept bytes as UTF-8 text of at most `cap` bytes.
    ///
    /// The cut at the front may fall inside a multi-byte character, and the
    /// output need not be UTF-8 at all: partial characters at the front are
    /// dropped, invalid sequences become U+FFFD, and since a replacement
    /// (3 bytes) can be longer than what it replaces, the front is trimmed
    /// again, at a character boundary, to stay within the cap.
    pub fn into_string(self) -> String {
        let bytes: Vec<u8> = self.buf.into();
        // A UTF-8 continuation byte looks like 0b10xx_xxxx; at most 3 of
        // them can start a cut character.
        let skip = bytes
            .iter()
            .take(3)
            .take_while(|b| (**b & 0xC0) == 0x80)
            .count();
        let text = String::from_utf8_lossy(&bytes[skip..]).into_owned();
        trim_front(text, self.cap)
    }
}

/// `text` without its front, cut at a character boundary, so that at most
/// `cap` bytes remain.
pub fn trim_front(text: String, cap: usize) -> String {
    if text.len() <= cap {
        return text;
    }
    let mut start = text.len() - cap;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_end() {
        let mut t = Tail::new(4);
        t.push(b"ab");
        t.push(b"cdef");
        t.push(b"g");
        assert_eq!(t.seen(), 7);
        assert_eq!(t.into_string(), "defg");
    }

    #[test]
    fn a_chunk_larger_than_the_cap() {
        let mut t = Tail::new(3);
        t.push(b"x");
        t.push(b"0123456789");
        assert_eq!(t.into_string(), "789");
    }

    #[test]
    fn a_cut_character_at_the_front_is_dropped() {
        let mut t = Tail::new(4);
        t.push("aé€".as_bytes()); // 1 + 2 + 3 bytes: the cut falls inside é
        assert_eq!(t.into_string(), "€");
    }

    #[test]
    fn invalid_bytes_stay_within_the_cap() {
        let mut t = Tail::new(4);
        t.push(&[0xFF, 0xFE, b'a', 0xFF]);
        let s = t.into_string();
        assert!(s.len() <= 4, "{s:?}");
        assert!(s.ends_with('\u{FFFD}'), "{s:?}");
    }

    #[test]
    fn empty() {
        assert_eq!(Tail::new(8).into_string(), "");
    }
}

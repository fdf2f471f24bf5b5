//! A byte reader that turns fuzzer bytes into structured values (no `arbitrary`
//! dependency in the main crate).
//!
//! Invariant: every read succeeds; an exhausted input reads as zeros, so any byte string
//! is a valid value and libFuzzer's mutations stay meaningful.

/// Text fragments that exercise escaping, redaction, limits and Flux vocabulary.
pub const TOKENS: &[&str] = &[
    "",
    " ",
    "a",
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!subteam^S123|devs>",
    "@here",
    "@Channel",
    "@everyone",
    "<@U024BE7LH>",
    "<#C024BE7LH|general>",
    "<https://evil.example|click here>",
    "&",
    "&amp;",
    "&lt;",
    "<",
    ">",
    "`",
    "```",
    "*bold*",
    "_it_",
    "~",
    "\n",
    "\r\n",
    "\t",
    "\u{0}",
    "\u{1b}[31m",
    "\u{202e}",
    "\u{2060}",
    "é",
    "日本語",
    "🦀",
    "\"",
    "\\",
    "{",
    "}",
    "[REDACTED]",
    "flux-system",
    "apps",
    "Kustomization",
    "GitRepository",
    "HelmRelease",
    "main@sha1:0123456789abcdef0123456789abcdef01234567",
    "authentication required",
    "OOMKilled",
    "Reconciliation finished in 1.25s, next run in 10m0s",
    "https://user:s3cr3t@example.com/repo.git",
    "password=hunter2",
];

/// A GitHub token shape that [`fluxsight::classify::redact::redact`] must remove; placed
/// only in free-text fields, surrounded by spaces, so no output may contain it.
pub const CANARY_SECRET: &str = "ghp_Fz9kQ2xW7vB4nR8tY1uI3oP5aS6dF0gH2jK4";

/// Consumes fuzzer bytes front to back.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    pub fn bool(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    /// A number in `0..n` (`0` when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        let v = u16::from_le_bytes([self.byte(), self.byte()]) as usize;
        v % n
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    pub fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.byte();
        }
        u64::from_le_bytes(b)
    }

    /// A raw slice of up to `max` bytes.
    pub fn bytes(&mut self, max: usize) -> &'a [u8] {
        let n = self.below(max + 1).min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }

    /// Everything not consumed yet.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }

    /// Untrusted text: a token, raw bytes, a concatenation, or a long repetition.
    pub fn text(&mut self) -> String {
        match self.byte() % 5 {
            0 | 1 => self.pick(TOKENS).to_string(),
            2 => String::from_utf8_lossy(self.bytes(64)).into_owned(),
            3 => {
                let n = 1 + self.below(4);
                (0..n).map(|_| self.pick(TOKENS)).collect()
            }
            _ => self.pick(TOKENS).repeat(self.below(3000)),
        }
    }

    /// Free text that may carry [`CANARY_SECRET`].
    pub fn free_text(&mut self) -> String {
        let mut s = self.text();
        if self.byte().is_multiple_of(4) {
            s = format!("{s} {CANARY_SECRET} {}", self.text());
        }
        s
    }

    /// One of `pool` or, now and then, arbitrary text (keeps keys colliding).
    pub fn name(&mut self, pool: &[&str]) -> String {
        if self.byte().is_multiple_of(8) {
            self.text()
        } else {
            self.pick(pool).to_string()
        }
    }

    pub fn opt<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> Option<T> {
        self.bool().then(|| f(self))
    }

    /// Up to `max` items.
    pub fn vec<T>(&mut self, max: usize, mut f: impl FnMut(&mut Self) -> T) -> Vec<T> {
        let n = self.below(max + 1);
        (0..n).map(|_| f(self)).collect()
    }
}

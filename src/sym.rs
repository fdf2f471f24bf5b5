//! Interned strings for the names every stage keys by: object kinds, namespaces, names.
//!
//! Owns: [`Sym`], a shared immutable string that exists once per distinct text in the
//! whole process, and the interner that makes it so (a `dashmap` map shared by the
//! decode threads, which intern the object references of the records they build).
//!
//! Why: the correlator keys a dozen maps and sets by `ObjectRef` and looks each record's
//! object up in several of them, and clones references into findings, claims and
//! histories. With interned parts a clone is three reference-count increments instead of
//! three allocations, and equality is three pointer comparisons instead of three
//! `memcmp`s (a tenth of a replay's time went to comparing reference strings).
//!
//! Invariants:
//! - Every `Sym` comes from the interner, so two `Sym`s are equal exactly when they are
//!   the same allocation; `Eq` compares pointers.
//! - `Hash` and `Ord` are those of the text (`str`'s), so hashed and sorted collections
//!   keyed by `Sym` (or by structs of them) iterate in the same order as with `String`,
//!   and `Borrow<str>` lookups work.
//! - Memory is bounded by what is in use: texts no one holds any more are dropped from
//!   the interner when it has doubled since the last sweep.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use dashmap::DashMap;
use rustc_hash::FxBuildHasher;

/// An interned string (see the module docs).
#[derive(Clone)]
pub struct Sym(Arc<str>);

/// Every text interned and still held (or not yet swept).
static INTERNER: LazyLock<DashMap<Arc<str>, (), FxBuildHasher>> =
    LazyLock::new(|| DashMap::with_hasher(FxBuildHasher));

/// Interner size after the last sweep; the next sweep runs at twice this.
static SWEPT_AT: AtomicUsize = AtomicUsize::new(0);

/// Entries below which the interner is never swept.
const MIN_SWEEP: usize = 4096;

impl Sym {
    /// The one `Sym` of `s`.
    pub fn new(s: &str) -> Sym {
        if let Some(e) = INTERNER.get(s) {
            return Sym(Arc::clone(e.key()));
        }
        let sym = match INTERNER.entry(Arc::from(s)) {
            dashmap::Entry::Occupied(e) => Sym(Arc::clone(e.key())),
            dashmap::Entry::Vacant(v) => {
                let key = Arc::clone(v.key());
                v.insert(());
                Sym(key)
            }
        };
        maybe_sweep();
        sym
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Texts interned now (for memory tests and metrics).
    pub fn interned() -> usize {
        INTERNER.len()
    }
}

/// Drops texts only the interner holds, once it has doubled since the last sweep.
fn maybe_sweep() {
    let len = INTERNER.len();
    let at = SWEPT_AT.load(Ordering::Relaxed);
    if len < MIN_SWEEP || len < at.saturating_mul(2) {
        return;
    }
    // One sweeper at a time; the others go on interning.
    if SWEPT_AT
        .compare_exchange(at, usize::MAX, Ordering::AcqRel, Ordering::Relaxed)
        .is_err()
    {
        return;
    }
    // A shard is locked while it is swept, so no clone can be taken from it meanwhile:
    // a count of 1 means no `Sym` of it exists.
    INTERNER.retain(|k, _| Arc::strong_count(k) > 1);
    SWEPT_AT.store(INTERNER.len().max(MIN_SWEEP / 2), Ordering::Release);
}

impl Default for Sym {
    fn default() -> Self {
        static EMPTY: LazyLock<Sym> = LazyLock::new(|| Sym::new(""));
        EMPTY.clone()
    }
}

impl PartialEq for Sym {
    fn eq(&self, o: &Self) -> bool {
        Arc::ptr_eq(&self.0, &o.0)
    }
}
impl Eq for Sym {}

impl Hash for Sym {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.as_str().hash(h)
    }
}

impl PartialOrd for Sym {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Sym {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        if self == o {
            return std::cmp::Ordering::Equal;
        }
        self.as_str().cmp(o.as_str())
    }
}

impl Deref for Sym {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Sym {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Sym {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl fmt::Debug for Sym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl From<&str> for Sym {
    fn from(s: &str) -> Sym {
        Sym::new(s)
    }
}
impl From<String> for Sym {
    fn from(s: String) -> Sym {
        Sym::new(&s)
    }
}
impl From<&String> for Sym {
    fn from(s: &String) -> Sym {
        Sym::new(s)
    }
}
impl From<Cow<'_, str>> for Sym {
    fn from(s: Cow<'_, str>) -> Sym {
        Sym::new(&s)
    }
}
impl From<&Sym> for Sym {
    fn from(s: &Sym) -> Sym {
        s.clone()
    }
}
impl From<Sym> for String {
    fn from(s: Sym) -> String {
        s.as_str().to_string()
    }
}

impl PartialEq<str> for Sym {
    fn eq(&self, o: &str) -> bool {
        self.as_str() == o
    }
}
impl PartialEq<&str> for Sym {
    fn eq(&self, o: &&str) -> bool {
        self.as_str() == *o
    }
}
impl PartialEq<String> for Sym {
    fn eq(&self, o: &String) -> bool {
        self.as_str() == o
    }
}
impl PartialEq<Sym> for str {
    fn eq(&self, o: &Sym) -> bool {
        self == o.as_str()
    }
}
impl PartialEq<Sym> for &str {
    fn eq(&self, o: &Sym) -> bool {
        *self == o.as_str()
    }
}
impl PartialEq<Sym> for String {
    fn eq(&self, o: &Sym) -> bool {
        self == o.as_str()
    }
}

impl serde::Serialize for Sym {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Sym {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Sym, D::Error> {
        let s: Cow<'de, str> = serde::Deserialize::deserialize(d)?;
        Ok(Sym::new(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;

    fn hash_of<T: Hash + ?Sized>(t: &T) -> u64 {
        let mut h = DefaultHasher::new();
        t.hash(&mut h);
        h.finish()
    }

    #[test]
    fn one_allocation_per_text_and_the_text_semantics_of_str() {
        let a = Sym::new("team-a");
        let b = Sym::from(String::from("team-a"));
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(a, b);
        assert_ne!(a, Sym::new("team-b"));
        assert_eq!(hash_of(&a), hash_of("team-a"));
        assert!(Sym::new("apps") < Sym::new("billing"));
        assert_eq!(a, "team-a");
        assert_eq!(format!("{a} {a:?}"), "team-a \"team-a\"");
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"team-a\"");
        let back: Sym = serde_json::from_str("\"team-a\"").unwrap();
        assert_eq!(back, a);
        assert_eq!(Sym::default(), Sym::new(""));
    }

    #[test]
    fn texts_no_one_holds_are_swept_and_come_back_as_one_again() {
        let keep = Sym::new("kept-across-sweeps");
        for i in 0..(MIN_SWEEP * 8) {
            Sym::new(&format!("transient-{i}"));
        }
        // Only those interned since the last sweep remain (other tests intern too, so
        // the interner's own size says little).
        let left = INTERNER
            .iter()
            .filter(|e| e.key().starts_with("transient-"))
            .count();
        assert!(
            left < MIN_SWEEP * 8,
            "unused texts were never swept: {left}"
        );
        let again = Sym::new("kept-across-sweeps");
        assert!(Arc::ptr_eq(&keep.0, &again.0));
        assert_eq!(Sym::new("transient-1"), Sym::new("transient-1"));
    }

    #[test]
    fn threads_interning_the_same_text_get_one_allocation() {
        let syms: Vec<Sym> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4).map(|_| s.spawn(|| Sym::new("raced-text"))).collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(syms.windows(2).all(|w| Arc::ptr_eq(&w[0].0, &w[1].0)));
    }
}

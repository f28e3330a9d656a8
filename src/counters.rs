//! Counters declared once: `counters!` turns one table of (field, kind, help) into the struct
//! that holds them, `stats reset`, the sum over shards, and a visitor that the stats text (and
//! later the Prometheus exporter) read names, kinds and help from. Std only, so storage,
//! replication and server can all use it.

/// What `stats reset` does to a value, and its Prometheus TYPE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Only grows between resets; `stats reset` zeroes it.
    Counter,
    /// A current level (items, bytes, connections); `stats reset` keeps it.
    Gauge,
}

impl Kind {
    /// The Prometheus TYPE word.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// How one shard's value combines with another's into the node's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merge {
    Sum,
    /// For values every shard has alike (a class's chunk size) or where the worst counts.
    Max,
}

impl Merge {
    pub fn apply(self, a: u64, b: u64) -> u64 {
        match self {
            Merge::Sum => a + b,
            Merge::Max => a.max(b),
        }
    }
}

/// One declared value: its exported name (memcached's where it has one), kind, merge and help.
#[derive(Clone, Copy, Debug)]
pub struct Desc {
    pub name: &'static str,
    pub kind: Kind,
    pub merge: Merge,
    pub help: &'static str,
}

/// Declares a set of counters once.
///
/// `plain` form: `counters! { plain pub struct S { field [as "name"]: Kind[(Merge)], "help"; } }`
/// gives a `Copy` struct of `u64` fields with `FIELDS`, `values`, `get`, `for_each`,
/// `reset_counters`, `merge` and `total`. The `cells` form, `cells pub struct L => S { .. }`,
/// also gives `L` with a `Cell<u64>` per field (for counters bumped through `&self` on a
/// shard's thread), with `add`, `snapshot` (to `S`) and `reset`.
macro_rules! counters {
    (
        plain $(#[$m:meta])* $vis:vis struct $S:ident {
            $( $field:ident $(as $name:literal)? : $kind:ident $(($merge:ident))?, $help:literal; )*
        }
    ) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        $vis struct $S {
            $( #[doc = $help] pub $field: u64, )*
        }

        // Not every set uses every helper.
        #[allow(dead_code)]
        impl $S {
            /// Every declared value, in declaration order.
            pub const FIELDS: &'static [$crate::counters::Desc] = &[
                $( $crate::counters::Desc {
                    name: $crate::counters::counters!(@name $($name)?, $field),
                    kind: $crate::counters::Kind::$kind,
                    merge: $crate::counters::counters!(@merge $($merge)?),
                    help: $help,
                }, )*
            ];

            /// The values in the order of `FIELDS`.
            pub fn values(&self) -> [u64; Self::FIELDS.len()] {
                [$( self.$field ),*]
            }

            /// The value exported under `name`, if this set declares it.
            pub fn get(&self, name: &str) -> Option<u64> {
                let i = Self::FIELDS.iter().position(|d| d.name == name)?;
                Some(self.values()[i])
            }

            pub fn for_each(&self, mut f: impl FnMut(&'static $crate::counters::Desc, u64)) {
                for (d, v) in Self::FIELDS.iter().zip(self.values()) {
                    f(d, v);
                }
            }

            /// Zeroes the counters and keeps the gauges, like memcached's `stats reset`.
            pub fn reset_counters(&mut self) {
                $( if $crate::counters::Kind::$kind == $crate::counters::Kind::Counter {
                    self.$field = 0;
                } )*
            }

            /// Folds another shard's values into these.
            pub fn merge(&mut self, other: &Self) {
                $( self.$field = $crate::counters::counters!(@merge $($merge)?)
                    .apply(self.$field, other.$field); )*
            }

            /// The node's values from every shard's.
            pub fn total<'a>(shards: impl IntoIterator<Item = &'a Self>) -> Self {
                let mut t = Self::default();
                for s in shards {
                    t.merge(s);
                }
                t
            }
        }
    };
    (
        cells $(#[$m:meta])* $vis:vis struct $L:ident => $S:ident {
            $( $field:ident $(as $name:literal)? : $kind:ident $(($merge:ident))?, $help:literal; )*
        }
    ) => {
        $(#[$m])*
        #[derive(Default, Debug)]
        $vis struct $L {
            $( #[doc = $help] pub $field: std::cell::Cell<u64>, )*
        }

        #[allow(dead_code)]
        impl $L {
            pub fn add(c: &std::cell::Cell<u64>, n: u64) {
                c.set(c.get() + n);
            }

            pub fn snapshot(&self) -> $S {
                $S { $( $field: self.$field.get(), )* }
            }

            /// `stats reset` zeroes counters but not gauges.
            pub fn reset(&self) {
                $( if $crate::counters::Kind::$kind == $crate::counters::Kind::Counter {
                    self.$field.set(0);
                } )*
            }
        }

        $crate::counters::counters! {
            plain
            #[doc = concat!("A copy of [`", stringify!($L), "`] at one moment.")]
            $vis struct $S {
                $( $field $(as $name)? : $kind $(($merge))?, $help; )*
            }
        }
    };
    (@name $name:literal, $field:ident) => { $name };
    (@name , $field:ident) => { stringify!($field) };
    (@merge $merge:ident) => { $crate::counters::Merge::$merge };
    (@merge) => { $crate::counters::Merge::Sum };
}
pub(crate) use counters;

#[cfg(test)]
#[path = "counters_tests.rs"]
mod tests;

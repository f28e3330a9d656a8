//! Tests of `counters!`: what resets, what merges how, and what the visitor reports.

use super::{Kind, Merge};

counters! {
    plain
    /// A made-up set, one of each kind of declaration.
    struct Plain {
        hits: Counter, "Lookups that found the key.";
        items: Gauge, "Items stored now.";
        level as "hash_level": Gauge(Max), "Index size as a power of two.";
    }
}

counters! {
    cells
    /// A made-up live set.
    struct Live => LiveSnap {
        open: Gauge, "Open connections.";
        total as "total_opened": Counter, "Connections ever opened.";
    }
}

#[test]
fn counters_reset_and_gauges_stay() {
    let mut p = Plain {
        hits: 4,
        items: 3,
        level: 16,
    };
    p.reset_counters();
    assert_eq!(
        p,
        Plain {
            hits: 0,
            items: 3,
            level: 16
        }
    );

    let l = Live::default();
    Live::add(&l.open, 2);
    Live::add(&l.total, 5);
    l.reset();
    assert_eq!((l.open.get(), l.total.get()), (2, 0));
}

#[test]
fn sums_over_shards_and_max_where_declared() {
    let a = Plain {
        hits: 1,
        items: 2,
        level: 16,
    };
    let b = Plain {
        hits: 10,
        items: 20,
        level: 17,
    };
    assert_eq!(
        Plain::total([&a, &b]),
        Plain {
            hits: 11,
            items: 22,
            level: 17
        }
    );
    assert_eq!(Plain::total([]), Plain::default());
}

#[test]
fn visitor_reports_names_kinds_help_values_in_order() {
    let l = Live::default();
    Live::add(&l.open, 1);
    Live::add(&l.total, 7);
    let mut seen = Vec::new();
    l.snapshot()
        .for_each(|d, v| seen.push((d.name, d.kind, d.merge, d.help, v)));
    assert_eq!(
        seen,
        [
            ("open", Kind::Gauge, Merge::Sum, "Open connections.", 1),
            (
                "total_opened",
                Kind::Counter,
                Merge::Sum,
                "Connections ever opened.",
                7
            ),
        ]
    );
    assert_eq!(l.snapshot().get("total_opened"), Some(7));
    assert_eq!(l.snapshot().get("total"), None);
    assert_eq!(Kind::Counter.name(), "counter");
    assert_eq!(Kind::Gauge.name(), "gauge");
}

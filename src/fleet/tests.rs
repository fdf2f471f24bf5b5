//! The fleet correlator: thresholds, the inventory denominator, resolution, ids, and
//! the stage-2 clock (ticks, idleness).

use super::*;

const T0: TsMs = 1_767_000_000_000;
const SRC: &str = "fluxsight.signals.v1/0";
const ACME: &str = "ratelimit:github.com/acme";

fn key(k: &str) -> FleetKey {
    FleetKey::parse(k).unwrap()
}

fn failing(k: &str, cluster: &str, t: TsMs, since: TsMs) -> Partial {
    let mut p = Partial::status(&key(k), cluster, t, KeyStatus::Failing);
    p.since = Some(since);
    p.pattern = Some(PatternId::RateLimitExhaustion.as_str().into());
    p.finding = Some(format!("id-{cluster}"));
    p.sample = Some(format!("{cluster}: status code: 429"));
    p
}

fn ok(k: &str, cluster: &str, t: TsMs) -> Partial {
    Partial::status(&key(k), cluster, t, KeyStatus::Ok)
}

fn uses(k: &str, cluster: &str, t: TsMs) -> Partial {
    Partial::inventory(&key(k), cluster, t)
}

fn tick(t: TsMs) -> Partial {
    Partial::tick(SRC, t)
}

fn fc() -> FleetCorrelator {
    FleetCorrelator::new(Settings::default(), derive::DEFAULT_IDLE_MS)
}

fn findings(out: &[Output]) -> Vec<&Finding> {
    out.iter()
        .filter_map(|o| match o {
            Output::Finding(f) => Some(&**f),
            Output::Audit(_) => None,
        })
        .collect()
}

fn feed(c: &mut FleetCorrelator, ps: &[Partial]) -> Vec<Output> {
    let mut out = Vec::new();
    for p in ps {
        c.on_partial(p);
        out.extend(c.drain());
    }
    out
}

/// 200 clusters use github.com/acme; `failing` of them (c000, c005, c010, …) are
/// rate-limited, their statuses arriving a few per tick over 10 minutes; refreshes
/// every 5 minutes; ticks every 30 s for `minutes`.
fn fleet_stream(n_failing: usize, minutes: i64) -> Vec<Partial> {
    let clusters: Vec<String> = (0..200).map(|i| format!("c{i:03}")).collect();
    let bad: Vec<&String> = clusters.iter().step_by(5).take(n_failing).collect();
    let mut ps = vec![tick(T0)];
    for c in &clusters {
        ps.push(uses(ACME, c, T0 + 1_000));
    }
    for step in 1..=(minutes * 2) {
        let t = T0 + step * 30_000;
        // Four new failing clusters per tick, each failing since 2 minutes before.
        for (i, c) in bad.iter().enumerate() {
            let first = (i / 4 + 1) as i64;
            if first == step || (step > first && (step - first) % 10 == 0) {
                ps.push(failing(ACME, c, t - 500, T0 + first * 30_000 - 120_000));
            }
        }
        if step % 10 == 0 {
            for c in &clusters {
                ps.push(uses(ACME, c, t - 400));
            }
        }
        ps.push(tick(t));
    }
    ps
}

#[test]
fn forty_of_two_hundred_clusters_give_exactly_one_finding_naming_the_forty() {
    let mut c = fc();
    let out = feed(&mut c, &fleet_stream(40, 20));
    let fs = findings(&out);
    let ids: BTreeSet<&str> = fs.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids.len(), 1, "one fleet finding: {ids:?}");
    let last = fs.last().unwrap();
    assert_eq!(last.pattern, PatternId::FleetRateLimit.as_str());
    assert_eq!(last.status, Status::Firing);
    assert_eq!(last.count, 40);
    assert_eq!(last.impacted.len(), 40);
    assert_eq!(last.labels["affected"], "40");
    assert_eq!(last.labels["users"], "200");
    assert_eq!(last.labels["share"], "40 of 200 clusters that use it");
    assert_eq!(last.labels["clusters"].split(", ").count(), 40);
    assert_eq!(last.subject.to_string(), format!("FleetKey/{ACME}"));
    assert_eq!(
        last.title,
        "Rate limit on github.com/acme in 40 of 200 clusters that use it"
    );
    assert!(last.summary.contains("c000, c005"), "{}", last.summary);
    // Each impact entry links the cluster's own finding.
    assert!(last
        .impact
        .iter()
        .all(|i| i.message.contains("rate_limit_exhaustion id-c")));
    assert_eq!(last.cluster, FLEET_CLUSTER);
    // Updates were coalesced: not one emission per cluster that joined.
    assert!(fs.len() < 15, "{} emissions", fs.len());
    assert!(fs.iter().all(|f| f.status == Status::Firing));
    assert_eq!(c.firing().count(), 1);
}

#[test]
fn two_clusters_alone_give_no_fleet_finding() {
    let mut c = fc();
    let out = feed(&mut c, &fleet_stream(2, 20));
    assert!(findings(&out).is_empty(), "{:?}", findings(&out));
    // Without any inventory either.
    let mut c = fc();
    let out = feed(
        &mut c,
        &[
            tick(T0),
            failing(ACME, "a", T0 + 1, T0),
            failing(ACME, "b", T0 + 2, T0),
            tick(T0 + 30_000),
        ],
    );
    assert!(findings(&out).is_empty());
}

#[test]
fn the_inventory_is_the_denominator() {
    let k = "git:github.com/acme/platform";
    // 3 failing of 100 users: 3 % < 10 %: quiet.
    let mut ps = vec![tick(T0)];
    for i in 0..100 {
        ps.push(uses(k, &format!("u{i:03}"), T0 + 1));
    }
    for i in 0..3 {
        ps.push(failing(k, &format!("u{i:03}"), T0 + 2, T0));
    }
    ps.push(tick(T0 + 30_000));
    let mut c = fc();
    assert!(
        findings(&feed(&mut c, &ps)).is_empty(),
        "3 of 100 is below 10 %"
    );
    // 58 failing of 60 users: fires, "58 of 60".
    let mut ps = vec![tick(T0)];
    for i in 0..60 {
        ps.push(uses(k, &format!("u{i:03}"), T0 + 1));
    }
    for i in 0..58 {
        ps.push(failing(k, &format!("u{i:03}"), T0 + 2, T0));
    }
    ps.push(tick(T0 + 30_000));
    let mut c = fc();
    let out = feed(&mut c, &ps);
    let fs = findings(&out);
    assert_eq!(fs.len(), 1);
    assert_eq!(fs[0].pattern, PatternId::FleetSourceFailure.as_str());
    assert_eq!(fs[0].labels["share"], "58 of 60 clusters that use it");
    assert_eq!(
        fs[0].title,
        "Source github.com/acme/platform failing in 58 of 60 clusters that use it"
    );
    // A failing cluster that sent no inventory still counts as a user.
    let mut c = fc();
    let out = feed(
        &mut c,
        &[
            tick(T0),
            uses(k, "a", T0 + 1),
            failing(k, "a", T0 + 2, T0),
            failing(k, "b", T0 + 2, T0),
            failing(k, "c", T0 + 2, T0),
            tick(T0 + 30_000),
        ],
    );
    assert_eq!(
        findings(&out)[0].labels["share"],
        "3 of 3 clusters that use it"
    );
}

#[test]
fn it_resolves_when_clusters_recover_or_stop_refreshing() {
    let base = vec![
        tick(T0),
        failing(ACME, "a", T0 + 1, T0),
        failing(ACME, "b", T0 + 1, T0),
        failing(ACME, "c", T0 + 1, T0),
        tick(T0 + 30_000),
    ];
    // Recovery: one cluster sends ok, the count falls below 3.
    let mut c = fc();
    let mut ps = base.clone();
    ps.extend([ok(ACME, "b", T0 + 40_000), tick(T0 + 60_000)]);
    let out = feed(&mut c, &ps);
    let fs = findings(&out);
    assert_eq!(fs.len(), 2);
    assert_eq!(fs[0].status, Status::Firing);
    assert_eq!(fs[1].status, Status::Resolved);
    assert_eq!(fs[0].id, fs[1].id);
    assert_eq!(fs[1].emission, 2);
    assert_eq!(c.firing().count(), 0);
    // No refresh: after the TTL (15m) only ticks arrive (a quiet partition), the
    // statuses expire and it resolves on tick time alone.
    let mut c = fc();
    let mut ps = base;
    for i in 2..=40 {
        ps.push(tick(T0 + i * 30_000));
    }
    let out = feed(&mut c, &ps);
    let fs = findings(&out);
    assert_eq!(fs.len(), 2, "{fs:?}");
    assert_eq!(fs[1].status, Status::Resolved);
    let resolved_at = fs[1].last_seen;
    assert!(resolved_at > T0 + 15 * 60_000 && resolved_at <= T0 + 16 * 60_000);
    // And the state is gone.
    assert!(c.keys.is_empty());
}

#[test]
fn the_same_partials_give_the_same_ids_in_any_order_between_ticks() {
    let ps = fleet_stream(40, 20);
    let a = feed(&mut fc(), &ps);
    let b = feed(&mut fc(), &ps);
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    // Partials between two ticks reversed (another interleaving of the stage-1
    // partitions): the same ids.
    let mut shuffled = Vec::new();
    let mut run: Vec<Partial> = Vec::new();
    for p in ps {
        if p.kind == PartialKind::Tick {
            run.reverse();
            shuffled.append(&mut run);
            shuffled.push(p);
        } else {
            run.push(p);
        }
    }
    let c = feed(&mut fc(), &shuffled);
    let ids =
        |o: &[Output]| -> BTreeSet<String> { findings(o).iter().map(|f| f.id.clone()).collect() };
    assert_eq!(ids(&a), ids(&c));
    // The id is hash(pattern, key, incident start minute), nothing else.
    let f = findings(&a)[0];
    assert_eq!(
        f.id,
        fleet_finding_id(PatternId::FleetRateLimit, &key(ACME), f.first_seen)
    );
    assert_ne!(
        f.id,
        fleet_finding_id(PatternId::FleetRateLimit, &key(ACME), f.first_seen + 60_000)
    );
    // Duplicated partials (an at-least-once topic) change nothing.
    let dup: Vec<Partial> = fleet_stream(40, 20)
        .into_iter()
        .flat_map(|p| [p.clone(), p])
        .collect();
    let d = feed(&mut fc(), &dup);
    assert_eq!(format!("{a:?}"), format!("{d:?}"));
}

#[test]
fn time_is_the_oldest_live_tick_and_an_idle_source_stops_holding_it() {
    let mut c = fc();
    c.on_partial(&Partial::tick("s/a", T0));
    c.on_partial(&Partial::tick("s/b", T0 + 10_000));
    assert_eq!(c.now(), Some(T0), "the oldest source holds the clock");
    c.on_partial(&Partial::tick("s/a", T0 + 60_000));
    assert_eq!(c.now(), Some(T0 + 10_000));
    // s/b goes quiet (its member died): once it is more than the idle timeout (2m)
    // behind, it no longer holds the clock back.
    c.on_partial(&Partial::tick("s/a", T0 + 120_000));
    assert_eq!(c.now(), Some(T0 + 10_000));
    c.on_partial(&Partial::tick("s/a", T0 + 150_000));
    assert_eq!(c.now(), Some(T0 + 150_000));
    // Never backwards.
    c.on_partial(&Partial::tick("s/b", T0 + 20_000));
    assert_eq!(c.now(), Some(T0 + 150_000));
    // Without ticks, the partials' own time moves it.
    let mut c = fc();
    c.on_partial(&failing(ACME, "a", T0 + 5, T0));
    assert_eq!(c.now(), Some(T0 + 5));
}

#[test]
fn late_and_stale_partials_change_nothing() {
    let mut c = fc();
    feed(
        &mut c,
        &[
            tick(T0 + 30 * 60_000),
            // Older than the TTL at arrival: ignored.
            failing(ACME, "a", T0, T0),
        ],
    );
    assert_eq!(c.counts.late, 1);
    assert!(c.keys.is_empty());
    // An ok older than the failing status held: the status stands.
    let mut c = fc();
    let out = feed(
        &mut c,
        &[
            tick(T0),
            failing(ACME, "a", T0 + 10, T0),
            failing(ACME, "b", T0 + 10, T0),
            failing(ACME, "c", T0 + 10, T0),
            ok(ACME, "c", T0 + 5),
            tick(T0 + 30_000),
        ],
    );
    assert_eq!(findings(&out).len(), 1);
    assert_eq!(findings(&out)[0].count, 3);
}

#[test]
fn pattern_thresholds_come_from_the_pattern_files_and_overrides() {
    let settings = Settings::default();
    let p = settings.patterns.get(PatternId::FleetRateLimit);
    assert_eq!(p.n("min_clusters"), 3);
    assert_eq!(p.ms("ttl"), 15 * 60_000);
    for id in [
        PatternId::FleetRateLimit,
        PatternId::FleetSourceFailure,
        PatternId::FleetChartFailure,
    ] {
        assert!(is_fleet_pattern(id));
    }
    assert!(!is_fleet_pattern(PatternId::RateLimitExhaustion));
    assert_eq!(pattern_of(KeyKind::Chart), PatternId::FleetChartFailure);
    assert_eq!(
        pattern_of(KeyKind::RateLimitHost),
        PatternId::FleetRateLimit
    );
}

#[test]
fn a_host_wide_limit_of_one_org_is_left_to_the_org_finding() {
    let host = "ratelimit-host:github.com";
    let with_orgs = |c: &str, orgs: &[&str]| {
        let mut p = failing(host, c, T0 + 1, T0);
        p.orgs = orgs.iter().map(|o| o.to_string()).collect();
        p
    };
    // Three clusters, all on github.com/acme: no host finding.
    let out = feed(
        &mut fc(),
        &[
            tick(T0),
            with_orgs("a", &["github.com/acme"]),
            with_orgs("b", &["github.com/acme"]),
            with_orgs("c", &["github.com/acme"]),
            tick(T0 + 30_000),
        ],
    );
    assert!(findings(&out).is_empty());
    // Two orgs: provider-wide.
    let out = feed(
        &mut fc(),
        &[
            tick(T0),
            with_orgs("a", &["github.com/acme"]),
            with_orgs("b", &["github.com/beta"]),
            with_orgs("c", &["github.com/acme"]),
            tick(T0 + 30_000),
        ],
    );
    let fs = findings(&out);
    assert_eq!(fs.len(), 1);
    assert_eq!(fs[0].labels["fleet_key"], host);
}

#[test]
fn with_a_wall_clock_a_lagging_source_holds_time_until_it_stops_ticking() {
    let mut c = fc();
    c.on_partial_at(&Partial::tick("s/a", T0), 0);
    c.on_partial_at(&Partial::tick("s/b", T0 + 600_000), 1_000);
    // s/a is 10 minutes behind in event time but ticked a second ago: it holds.
    assert_eq!(c.now(), Some(T0));
    c.on_partial_at(&Partial::tick("s/a", T0 + 30_000), 60_000);
    assert_eq!(c.now(), Some(T0 + 30_000));
    // s/a stops ticking: after the idle timeout (2m) of wall time, s/b alone.
    c.on_partial_at(&Partial::tick("s/b", T0 + 630_000), 200_000);
    assert_eq!(c.now(), Some(T0 + 630_000));
}

#[test]
fn statuses_behind_the_clock_are_evaluated_at_the_next_tick() {
    let mut c = fc();
    let mut out = feed(&mut c, &[tick(T0), tick(T0 + 60_000)]);
    // Three statuses of a source behind the clock (their time < now): no advance,
    // but the next tick evaluates their key.
    out.extend(feed(
        &mut c,
        &[
            failing(ACME, "a", T0 + 10_000, T0),
            failing(ACME, "b", T0 + 10_000, T0),
            failing(ACME, "c", T0 + 10_000, T0),
        ],
    ));
    assert!(findings(&out).is_empty());
    out.extend(feed(&mut c, &[tick(T0 + 60_000)]));
    assert_eq!(findings(&out).len(), 1);
}

#[test]
fn the_clock_waits_for_every_announced_source_or_the_idle_timeout() {
    let of = |src: &str, t: TsMs| {
        let mut p = Partial::tick(src, t);
        p.of = Some(3);
        p
    };
    let mut c = fc();
    c.on_partial_at(&of("s/0", T0), 0);
    c.on_partial_at(&of("s/1", T0 + 60_000), 1_000);
    assert_eq!(c.now(), None, "s/2 has not ticked yet");
    c.on_partial_at(&of("s/2", T0 + 30_000), 2_000);
    assert_eq!(c.now(), Some(T0));
    // A source that never ticks stops holding the clock after the idle timeout.
    let mut c = fc();
    c.on_partial_at(&of("s/0", T0), 0);
    c.on_partial_at(&of("s/1", T0 + 60_000), 60_000);
    assert_eq!(c.now(), None);
    c.on_partial_at(&of("s/1", T0 + 90_000), 121_000);
    assert_eq!(c.now(), Some(T0 + 90_000), "s/0 idle too by now");
}

#[test]
fn statuses_ahead_of_the_clock_wait_for_it() {
    let mut c = fc();
    let out = feed(
        &mut c,
        &[
            Partial::tick("s/slow", T0),
            Partial::tick("s/fast", T0 + 60_000),
            failing(ACME, "a", T0 + 50_000, T0),
            failing(ACME, "b", T0 + 50_000, T0),
            failing(ACME, "c", T0 + 50_000, T0),
            Partial::tick("s/fast", T0 + 90_000),
        ],
    );
    assert_eq!(c.now(), Some(T0));
    assert!(
        findings(&out).is_empty(),
        "the slow source may still send inventory"
    );
    // The slow source's inventory: 40 users; at T0 + 50 s, 3 of 40 is under 10 %.
    let mut ps: Vec<Partial> = (0..40)
        .map(|i| uses(ACME, &format!("u{i}"), T0 + 1))
        .collect();
    ps.push(Partial::tick("s/slow", T0 + 60_000));
    assert!(findings(&feed(&mut c, &ps)).is_empty());
    // A failing cluster's refresh from ahead of the clock keeps it counted.
    let mut c = fc();
    let out = feed(
        &mut c,
        &[
            tick(T0),
            failing(ACME, "a", T0, T0),
            failing(ACME, "b", T0, T0),
            failing(ACME, "c", T0, T0),
            tick(T0 + 30_000),
            Partial::tick("s/slow", T0 + 30_000),
            failing(ACME, "a", T0 + 300_000, T0),
            tick(T0 + 400_000),
            Partial::tick("s/slow", T0 + 60_000),
        ],
    );
    let fs = findings(&out);
    assert!(
        fs.iter()
            .all(|f| f.status == Status::Firing && f.count == 3),
        "{fs:?}"
    );
}

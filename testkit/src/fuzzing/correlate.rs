//! The correlator harness: records from fuzzer bytes (synthetic, or decoded and
//! classified lines) interleaved with clock ticks, outputs rendered by every renderer.

use super::gen;
use super::input::Input;
use fluxsight::correlate::state::Caps;
use fluxsight::correlate::{Correlator, Output};
use fluxsight::parse::LineDecoder;
use fluxsight::record::TsMs;
use fluxsight::sinks::Delivery;

/// Caps small enough that evictions happen within one input.
const SMALL_CAPS: Caps = Caps {
    objects: 8,
    controllers: 3,
    hosts: 3,
    tenants_per_controller: 3,
    history: 6,
    samples: 12,
    findings: 6,
};

fn render(c: &mut Correlator) {
    for out in c.drain() {
        let d = match out {
            Output::Finding(f) => Delivery::Finding(f),
            Output::Audit(a) => Delivery::Audit(a),
        };
        super::render::check_delivery(&d);
    }
}

pub fn correlate(data: &[u8]) {
    let mut i = Input::new(data);
    let caps = if i.bool() {
        SMALL_CAPS
    } else {
        Caps::default()
    };
    let mut c = Correlator::with_caps(super::settings().clone(), caps);
    let mut dec = LineDecoder::new(None);
    let mut now: TsMs = 1_762_783_200_000;
    while !i.is_empty() {
        match i.byte() % 8 {
            0..=3 => c.on_record(&gen::record(&mut i, &mut now)),
            4 | 5 => {
                let line = i.bytes(300);
                for mut rec in dec.decode(line) {
                    super::classifier().classify(&mut rec);
                    c.on_record(&rec);
                }
            }
            6 => {
                now = now.saturating_add(i.below(3_600_000) as i64);
                c.on_time(now);
                let _ = c.next_deadline();
            }
            _ => render(&mut c),
        }
    }
    c.finish();
    render(&mut c);
    let _ = (c.evictions(), c.state_counts(), c.findings());
}

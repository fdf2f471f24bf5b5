#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fluxsight_testkit::fuzzing::parse_metric(data));

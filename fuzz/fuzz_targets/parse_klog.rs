#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fluxsight::fuzzing::parse_klog(data));

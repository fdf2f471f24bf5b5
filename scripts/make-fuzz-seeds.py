#!/usr/bin/env python3
"""Writes the committed fuzz seed corpus (fuzz/seeds/<target>/) from the fixtures.

Line-oriented targets get fixture lines or short fixture files; YAML loaders get the
pattern and pipeline files; byte-structured targets (renderers, correlator) get
deterministic blobs, and the correlator also gets scenario logs encoded as its
"decode this line" operations. Re-run after fixtures change; output is deterministic.
"""
import glob
import os
import random
import shutil
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "seeds")
FIX = os.path.join(ROOT, "tests", "fixtures", "classify")
SCENARIOS = os.path.join(ROOT, "..", "shared", "samples", "scenarios")
MAX_FILE = 8192
MAX_LINES = 40


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def lines_of(pattern):
    out = []
    for path in sorted(glob.glob(os.path.join(FIX, pattern))):
        with open(path, "rb") as f:
            out.extend(l for l in f.read().split(b"\n") if l.strip())
    return out


def seed_lines(target, pattern):
    for n, line in enumerate(lines_of(pattern)[:MAX_LINES]):
        write(target, f"{n:03}", line[:MAX_FILE])


def seed_files(target, paths):
    for path in paths:
        with open(path, "rb") as f:
            write(target, os.path.basename(path), f.read()[:MAX_FILE])


def correlate_seed(path):
    """Scenario lines as correlator ops: 4 = decode a line (u16 length, ≤300 bytes),
    6 = tick (u16 ms), 7 = render; the first byte selects the default caps."""
    out = bytearray([0])
    with open(path, "rb") as f:
        lines = [l[:300] for l in f.read().split(b"\n") if l.strip()]
    for n, line in enumerate(lines[:40]):
        out += bytes([4]) + struct.pack("<H", len(line)) + line
        if n % 20 == 19:
            out += bytes([6]) + struct.pack("<H", 60_000) + bytes([7])
    return bytes(out)


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    fixtures = sorted(glob.glob(os.path.join(FIX, "*.log")))
    seed_files("decode", fixtures)
    seed_files("render_row", fixtures[::3])
    seed_lines("envelope", "log_envelope_*.log")
    seed_lines("parse_zap", "log_zap_*.log")
    seed_lines("parse_console", "log_console.log")
    seed_lines("parse_klog", "log_klog.log")
    seed_lines("parse_logfmt", "log_logfmt.log")
    seed_lines("parse_flux_cli", "log_flux_cli.log")
    seed_lines("parse_text", "log_text.log")
    seed_lines("parse_metric", "metric_samples.log")
    seed_lines("parse_k8s", "k8s_*.log")
    patterns = sorted(glob.glob(os.path.join(ROOT, "patterns", "*.yaml")))
    finding_patterns = [p for p in patterns if not p.endswith("classes.yaml")]
    seed_files("load_pattern", sorted(finding_patterns, key=os.path.getsize)[:10])
    with open(os.path.join(ROOT, "patterns", "classes.yaml"), "rb") as f:
        write("load_classes", "classes.yaml", f.read())
    seed_files("load_pipeline", sorted(glob.glob(os.path.join(ROOT, "pipelines", "*.yaml"))))
    rng = random.Random(7)
    for target in ["render_finding", "render_audit", "render_slack", "render_alertmanager", "correlate"]:
        for n in range(8):
            write(target, f"random{n}", bytes(rng.randrange(256) for _ in range(64 << n % 5)))
    if os.path.isdir(SCENARIOS):
        for path in sorted(glob.glob(os.path.join(SCENARIOS, "*.log")))[::2]:
            write("correlate", os.path.basename(path), correlate_seed(path))
    else:
        print(f"note: {SCENARIOS} missing; correlator scenario seeds skipped", file=sys.stderr)


if __name__ == "__main__":
    main()

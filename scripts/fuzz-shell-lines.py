#!/usr/bin/env python3
"""Feeds random lines to the floe shell's non-interactive path (piped stdin) and fails on
any panic, stack overflow, Rust backtrace, or exit code other than 0 or 1.

    scripts/fuzz-shell-lines.py [--seconds 300] [--bin target/release/floe] [--seed N]

Each round starts `floe <fresh warehouse> -q` and pipes a batch of lines built from SQL
keywords, floe's extensions, meta-commands, identifiers, literals, punctuation and raw
bytes; half the rounds run with `--format` set at random. The warehouse is reused across
rounds so later rounds see the tables earlier ones created.
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile
import time

WORDS = """SELECT FROM WHERE GROUP BY ORDER LIMIT INSERT INTO VALUES UPDATE SET DELETE CREATE
TABLE SCHEMA DROP ALTER RENAME TO ADD COLUMN AS JOIN ON LEFT UNION ALL WITH CASE WHEN THEN
ELSE END NOT NULL AND OR IN IS BEGIN COMMIT ROLLBACK CALL FOR VERSION TIMESTAMP SYSTEM_TIME
OF PARTITIONED PURGE EXPLAIN ANALYZE COPY TRUNCATE OVERWRITE EXTERNAL STORED LOCATION
release rollback_release expire_snapshots create_tag create_branch check remove_orphan_files
t t1 t2 "t$snapshots" "t$files" floe.system.releases floe.system.commits public x y v
BIGINT INT VARCHAR DOUBLE DECIMAL(10,2) TIMESTAMP DATE BOOLEAN STRUCT<a:INT> INT[] MAP(INT,INT)
count(*) sum(x) now() generate_series(1,10) bucket(4,x) day(ts) 'v1' 'a/b' '..' 1 0 -1
9223372036854775807 1e308 NULL true ( ) , ; . * = < > + - / || :: => $$ -- /* */ ' "
""".split()
META = ["\\d", "\\dt", "\\dn", "\\d t", "\\timing", "\\timing on", "\\format csv",
        "\\format json", "\\format nope", "\\maxrows 3", "\\maxrows -1", "\\releases",
        "\\snapshots t", "\\snapshots nope", "\\i /nonexistent", "\\?", "\\x", "\\"]
GOOD = ["CREATE TABLE t (x BIGINT, v VARCHAR);", "INSERT INTO t VALUES (1, 'a'), (2, 'b');",
        "SELECT * FROM t;", "BEGIN;", "INSERT INTO t VALUES (3, 'c');", "CALL release('r1');",
        "SELECT * FROM t FOR VERSION AS OF 'r1';", "COMMIT;", "ROLLBACK;",
        "UPDATE t SET v = 'z' WHERE x = 1;", "DELETE FROM t WHERE x = 2;",
        "SELECT * FROM \"t$snapshots\";", "CALL check();"]
BAD = ["Error", "panicked", "RUST_BACKTRACE", "stack overflow", "stack backtrace"]


def line(rng):
    kind = rng.random()
    if kind < 0.15:
        return rng.choice(META)
    if kind < 0.35:
        return rng.choice(GOOD)
    if kind < 0.45:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60))).decode(
            "utf-8", "replace").replace("\n", " ")
    n = rng.randrange(1, 25)
    return " ".join(rng.choice(WORDS) for _ in range(n)) + rng.choice(["", ";", ";", " ;"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--bin", default="target/release/floe")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    wh = tempfile.mkdtemp(prefix="floe-fuzz-shell-")
    end = time.time() + a.seconds
    rounds = lines = 0
    while time.time() < end:
        batch = [line(rng) for _ in range(rng.randrange(1, 40))]
        args = [a.bin, os.path.join(wh, "w"), "-q"]
        if rng.random() < 0.5:
            args += ["--format", rng.choice(["table", "csv", "tsv", "json", "ndjson", "markdown"])]
        data = ("\n".join(batch) + "\n").encode("utf-8", "surrogateescape")
        try:
            p = subprocess.run(args, input=data, capture_output=True, timeout=60,
                               env={**os.environ, "FLOE_HISTORY": "/dev/null"})
        except subprocess.TimeoutExpired:
            print("HANG on input:\n" + "\n".join(batch), file=sys.stderr)
            return 1
        err = p.stderr.decode("utf-8", "replace")
        bad = [b for b in BAD[1:] if b in err]
        if p.returncode not in (0, 1) or bad:
            print(f"FAILURE (exit {p.returncode}) on input:\n" + "\n".join(batch), file=sys.stderr)
            print(err[-3000:], file=sys.stderr)
            return 1
        # The first error is one line starting with "Error: ".
        if p.returncode == 1 and not any(l.startswith("Error: ") for l in err.splitlines()):
            print("exit 1 without an 'Error: ' line on input:\n" + "\n".join(batch), file=sys.stderr)
            print(err[-3000:], file=sys.stderr)
            return 1
        rounds += 1
        lines += len(batch)
    print(f"{rounds} shell runs, {lines} random lines, {a.seconds:.0f}s: no panic, no hang, "
          "no backtrace, every failure an 'Error: ' line")
    return 0


if __name__ == "__main__":
    sys.exit(main())

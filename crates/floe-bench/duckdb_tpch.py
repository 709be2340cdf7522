"""DuckDB's side of `floe-bench scan`: the TPC-H queries on the same data as floe, through
DuckDB 1.4.4's `iceberg_scan` of floe's metadata files and through `read_parquet` of the
plain Parquet files.

Input: one JSON object, from the file named by the first argument or from stdin:
  {"threads": 2, "runs": 3, "timeout_seconds": 600,
   "queries": [{"name": "q1", "sql": "..."}, ...],
   "tables": [{"name": "lineitem", "metadata": "<metadata.json>",
               "parquet": ["<file>.parquet", ...]}, ...],
   "modes": ["iceberg_scan", "read_parquet"]}          (optional; both by default)
Output: one JSON object on stdout (nothing else is printed there):
  {"duckdb": "1.4.4", "threads": 2, "runs": 3, "fetch": "arrow",
   "modes": {"iceberg_scan": {"q1": {"seconds": 0.12, "rows": 4}, "q2": {"error": "..."}},
             "read_parquet": {...}}}
Every query of every mode asked for has an entry: timings or the error (one line, clipped),
so a failure is reported, never dropped. Progress goes to stderr.

Methodology, as scan.rs's for floe: per query and mode one warm-up run (its row count is
the one reported), then the minimum of `runs` timed runs of execute + fetching the whole
result (as Arrow when pyarrow is there, the counterpart of DataFusion's collect(); Python
tuples otherwise, which is slower on big results, said in "fetch"). The modes run
interleaved per query, as floe's engines do, so a noisy stretch hits both alike. DuckDB
runs with `threads` set to the given count and its other settings at their defaults.

Extensions come from the pip wheels duckdb-ext-avro / duckdb-ext-iceberg (DuckDB cannot
download them here): avro is loaded before iceberg, which needs it for manifests.
Automatic extension installs are off, so nothing touches the network.

The queries are run as given (floe's exact text). DuckDB accepts them as written
(`interval '90' day`, `substring(x from 1 for 2)`, `extract(year from d)` are all DuckDB
syntax), so `dialect()` changes nothing but a trailing `;`; it is the one place for a
tweak should a query ever need one, and any change it makes must be said there.
"""
import glob
import json
import os
import sys
import threading
import time

import duckdb

MODES = ("iceberg_scan", "read_parquet")


def say(msg):
    print(f"[duckdb] {msg}", file=sys.stderr, flush=True)


def one_line(text, limit=300):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "..."


def quote(s):
    """A SQL string literal."""
    return "'" + str(s).replace("'", "''") + "'"


def dialect(sql):
    """floe's query text as DuckDB runs it: unchanged but for a trailing semicolon (see
    the module comment)."""
    return sql.strip().rstrip(";").rstrip()


def extension(name):
    """The path of the wheel's `<name>.duckdb_extension` (duckdb_ext/extensions/<v>/<platform>/)."""
    import duckdb_ext

    base = os.path.join(list(duckdb_ext.__path__)[0], "extensions")
    hits = sorted(glob.glob(os.path.join(base, "*", "*", name + ".duckdb_extension")))
    if not hits:
        raise RuntimeError(f"no {name} extension under {base}")
    return hits[0]


def load_iceberg(con):
    con.execute(f"LOAD {quote(extension('avro'))}")
    con.execute(f"LOAD {quote(extension('iceberg'))}")


def create_views(con, mode, tables):
    """Schema `mode` with one view per table over that mode's reader."""
    con.execute(f'CREATE SCHEMA "{mode}"')
    for t in tables:
        if mode == "iceberg_scan":
            source = f"iceberg_scan({quote(t['metadata'])})"
        else:
            files = ", ".join(quote(p) for p in t["parquet"])
            source = f"read_parquet([{files}])"
        con.execute(f'CREATE VIEW "{mode}"."{t["name"]}" AS SELECT * FROM {source}')


def fetcher():
    try:
        import pyarrow  # noqa: F401  (fetch_arrow_table needs it)

        return "arrow", lambda cur: cur.fetch_arrow_table().num_rows
    except ImportError:
        return "python", lambda cur: len(cur.fetchall())


def main():
    if len(sys.argv) > 1 and sys.argv[1] != "-":
        with open(sys.argv[1], encoding="utf-8") as f:
            spec = json.load(f)
    else:
        spec = json.load(sys.stdin)
    threads = int(spec["threads"])
    runs = max(1, int(spec.get("runs", 1)))
    timeout = float(spec.get("timeout_seconds", 600))
    modes = list(spec.get("modes", MODES))
    for m in modes:
        if m not in MODES:
            raise SystemExit(f"unknown mode {m!r} (known: {', '.join(MODES)})")
    queries = spec["queries"]
    tables = spec["tables"]

    # No extension is ever downloaded: the two needed are LOADed from the wheels' files.
    con = duckdb.connect(
        config={
            "allow_unsigned_extensions": "true",
            "autoinstall_known_extensions": "false",
            "threads": threads,
        }
    )
    con.execute("SET enable_progress_bar = false")
    fetch_name, fetch = fetcher()

    # A mode whose setup fails reports that error for each of its queries.
    broken = {}
    for mode in modes:
        try:
            if mode == "iceberg_scan":
                load_iceberg(con)
            create_views(con, mode, tables)
        except Exception as e:  # noqa: BLE001  (any failure becomes a reported error)
            broken[mode] = "setup: " + one_line(e)
            say(f"{mode}: {broken[mode]}")

    def timed(sql):
        """Seconds and rows of one run; a run over `timeout` is interrupted (an error)."""
        timer = threading.Timer(timeout, con.interrupt)
        timer.start()
        try:
            start = time.perf_counter()
            rows = fetch(con.execute(sql))
            return time.perf_counter() - start, rows
        except duckdb.InterruptException as e:
            raise RuntimeError(f"interrupted after {timeout:.0f} s") from e
        finally:
            timer.cancel()

    results = {mode: {} for mode in modes}
    for q in queries:
        name, sql = q["name"], dialect(q["sql"])
        say(name)
        for mode in modes:
            if mode in broken:
                results[mode][name] = {"error": broken[mode]}
                continue
            try:
                con.execute(f'SET schema = {quote(mode)}')
                _, rows = timed(sql)  # warm-up; its rows are the reported ones
                best = min(timed(sql)[0] for _ in range(runs))
                results[mode][name] = {"seconds": best, "rows": rows}
            except Exception as e:  # noqa: BLE001
                results[mode][name] = {"error": one_line(e)}
                say(f"{name} {mode}: {results[mode][name]['error']}")

    print(
        json.dumps(
            {
                "duckdb": duckdb.__version__,
                "threads": threads,
                "runs": runs,
                "fetch": fetch_name,
                "modes": results,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()

"""Reads an Iceberg table from its metadata file with DuckDB's iceberg extension (loaded
from the pip wheel duckdb-ext-iceberg; DuckDB cannot download extensions here) and
prints its rows in a canonical text form, sorted, one per line."""
import glob
import os
import sys

import duckdb
import duckdb_ext

base = os.path.join(list(duckdb_ext.__path__)[0], "extensions")


def ext(name):
    hits = glob.glob(os.path.join(base, "*", "*", name + ".duckdb_extension"))
    if not hits:
        raise SystemExit("no " + name + " extension under " + base)
    return hits[0]


con = duckdb.connect(config={"allow_unsigned_extensions": "true", "threads": 2})
con.execute(f"LOAD '{ext('avro')}'")
con.execute(f"LOAD '{ext('iceberg')}'")
rows = con.execute(f"SELECT * FROM iceberg_scan('{sys.argv[1]}')").fetchall()
names = [d[0] for d in con.description]


def canon(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


out = [" ".join(f"{k}={canon(v)}" for k, v in zip(names, r)) for r in rows]
for r in sorted(out):
    print("row", r)

"""Reads an Iceberg table on an S3 server from its metadata file, twice: with PyIceberg
(StaticTable, its S3 FileIO settings) and with DuckDB's iceberg and httpfs extensions
(loaded from their pip wheels). Prints `pyiceberg row ...` and `duckdb row ...` lines,
each reader's rows sorted.

usage: read_s3.py ENDPOINT METADATA_LOCATION"""
import glob
import os
import sys

endpoint, location = sys.argv[1], sys.argv[2]


def canon(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def show(reader, names, rows):
    out = [" ".join(f"{k}={canon(v)}" for k, v in zip(names, r)) for r in rows]
    for r in sorted(out):
        print(reader, "row", r)


from pyiceberg.table import StaticTable

table = StaticTable.from_metadata(
    location,
    properties={
        "s3.endpoint": endpoint,
        "s3.access-key-id": "testing",
        "s3.secret-access-key": "testing",
        "s3.region": "us-east-1",
    },
)
arrow = table.scan().to_arrow()
show("pyiceberg", arrow.column_names, [tuple(r.values()) for r in arrow.to_pylist()])

import duckdb
import duckdb_ext

base = os.path.join(list(duckdb_ext.__path__)[0], "extensions")


def ext(name):
    hits = glob.glob(os.path.join(base, "*", "*", name + ".duckdb_extension"))
    if not hits:
        raise SystemExit("no " + name + " extension under " + base)
    return hits[0]


con = duckdb.connect(config={"allow_unsigned_extensions": "true", "threads": 2})
for name in ["httpfs", "avro", "iceberg"]:
    con.execute(f"LOAD '{ext(name)}'")
host = endpoint.split("://", 1)[1]
con.execute(
    f"CREATE SECRET s (TYPE S3, KEY_ID 'testing', SECRET 'testing', REGION 'us-east-1', "
    f"ENDPOINT '{host}', URL_STYLE 'path', USE_SSL false)"
)
rows = con.execute(f"SELECT * FROM iceberg_scan('{location}')").fetchall()
show("duckdb", [d[0] for d in con.description], rows)

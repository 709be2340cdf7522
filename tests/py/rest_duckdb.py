"""DuckDB's iceberg extension (loaded from its pip wheel; DuckDB cannot download
extensions here) against floe's Iceberg REST catalog server: reads `public.t` (id BIGINT,
s VARCHAR, created and filled by floe beforehand), inserts two rows (a
transactions/commit), deletes one (a position delete file), then creates a table (stage-create, then a commit with
assert-create) and fills it.

usage: rest_duckdb.py URI [TOKEN]

Expected output, for public.t holding (1,'a'), (2,'b'):
    row id=1 s=a
    row id=2 s=b
    inserted
    row id=1 s=a
    row id=2 s=b
    row id=3 s=c
    row id=4 s=NULL
    deleted
    row id=1 s=a
    row id=3 s=c
    row id=4 s=NULL
    created public.made_by_duckdb
    made row k=1 v=one
    made row k=2 v=two
"""
import glob
import os
import sys

import duckdb
import duckdb_ext

uri = sys.argv[1]
token = sys.argv[2] if len(sys.argv) > 2 else None
base = os.path.join(list(duckdb_ext.__path__)[0], "extensions")


def ext(name):
    hits = glob.glob(os.path.join(base, "*", "*", name + ".duckdb_extension"))
    if not hits:
        raise SystemExit("no " + name + " extension under " + base)
    return hits[0]


def canon(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def show(prefix, sql):
    rows = con.execute(sql).fetchall()
    names = [d[0] for d in con.description]
    out = [" ".join(f"{k}={canon(v)}" for k, v in zip(names, r)) for r in rows]
    for r in sorted(out):
        print(prefix, r)


con = duckdb.connect(config={"allow_unsigned_extensions": "true", "threads": 2})
# The REST catalog client uses httpfs for its HTTP requests.
for name in ("httpfs", "avro", "iceberg"):
    con.execute(f"LOAD '{ext(name)}'")
auth = f"TOKEN '{token}'" if token else "AUTHORIZATION_TYPE 'none'"
con.execute(f"ATTACH 'floe' AS c (TYPE iceberg, ENDPOINT '{uri}', {auth})")

show("row", "SELECT * FROM c.public.t")
con.execute("INSERT INTO c.public.t VALUES (3, 'c'), (4, NULL)")
print("inserted")
show("row", "SELECT * FROM c.public.t")
# Merge-on-read: DuckDB writes a position delete file that floe must apply.
con.execute("DELETE FROM c.public.t WHERE id = 2")
print("deleted")
show("row", "SELECT * FROM c.public.t")

con.execute("CREATE TABLE c.public.made_by_duckdb (k BIGINT, v VARCHAR)")
con.execute("INSERT INTO c.public.made_by_duckdb VALUES (1, 'one'), (2, 'two')")
print("created public.made_by_duckdb")
show("made row", "SELECT * FROM c.public.made_by_duckdb")

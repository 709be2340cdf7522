"""PyIceberg against floe's Iceberg REST catalog server (`floe serve`): namespaces, table
create / append / overwrite / delete / schema evolution, a commit conflict, and table
HEAD / list / rename / drop / register / purge. Prints deterministic lines (rows sorted by
id); the warehouse must not yet hold namespace `py`.

usage: rest_pyiceberg.py URI [TOKEN]

Expected output:
    namespaces includes py
    tables py.events
    rows after append
    row id=1 name=a score=1.5
    row id=2 name=b score=2.5
    row id=3 name=c score=NULL
    rows after overwrite
    row id=10 name=x score=10.0
    row id=11 name=y score=NULL
    rows after delete
    row id=10 name=x score=10.0
    rows after evolution
    row id=10 name=x score=10.0 tag=NULL
    row id=12 name=z score=12.0 tag=t
    conflict CommitFailedException
    rows final
    row id=10 name=x score=10.0 tag=NULL
    row id=12 name=z score=12.0 tag=t
    row id=13 name=w score=NULL tag=first
    exists py.scratch True
    renamed py.scratch2 True py.scratch False
    dropped py.scratch2 False
    registered py.restored rows=1
    purged py.restored False
"""
import sys

import pyarrow as pa
from pyiceberg.catalog import load_catalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import EqualTo
from pyiceberg.schema import Schema
from pyiceberg.types import DoubleType, LongType, NestedField, StringType

uri = sys.argv[1]
props = {"type": "rest", "uri": uri}
if len(sys.argv) > 2:
    props["token"] = sys.argv[2]
cat = load_catalog("floe", **props)


def canon(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def show(label, table):
    print(label)
    rows = table.scan().to_arrow().to_pylist()
    for r in sorted(rows, key=lambda r: r["id"]):
        print("row", " ".join(f"{k}={canon(v)}" for k, v in r.items()))


cat.create_namespace("py")
print("namespaces includes py" if ("py",) in cat.list_namespaces() else "namespaces MISSING py")

schema = Schema(
    NestedField(1, "id", LongType(), required=True),
    NestedField(2, "name", StringType(), required=False),
    NestedField(3, "score", DoubleType(), required=False),
)
t = cat.create_table("py.events", schema=schema)
print("tables", " ".join(".".join(i) for i in sorted(cat.list_tables("py"))))

arrow3 = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("score", pa.float64()),
    ]
)
t.append(pa.Table.from_pylist(
    [
        {"id": 1, "name": "a", "score": 1.5},
        {"id": 2, "name": "b", "score": 2.5},
        {"id": 3, "name": "c", "score": None},
    ],
    schema=arrow3,
))
show("rows after append", t)

t.overwrite(pa.Table.from_pylist(
    [{"id": 10, "name": "x", "score": 10.0}, {"id": 11, "name": "y", "score": None}],
    schema=arrow3,
))
show("rows after overwrite", t)

t.delete(delete_filter=EqualTo("id", 11))
show("rows after delete", t)

with t.update_schema() as u:
    u.add_column("tag", StringType())
arrow4 = arrow3.append(pa.field("tag", pa.string()))
t.append(pa.Table.from_pylist([{"id": 12, "name": "z", "score": 12.0, "tag": "t"}], schema=arrow4))
# A fresh load must show what the server committed, not the client's cached metadata.
show("rows after evolution", cat.load_table("py.events"))

# Conflict: PyIceberg retries 409s on snapshot commits commit.retry.num-retries times.
with t.transaction() as tx:
    tx.set_properties({"commit.retry.num-retries": "0"})
t1 = cat.load_table("py.events")
t2 = cat.load_table("py.events")
t1.append(pa.Table.from_pylist([{"id": 13, "name": "w", "score": None, "tag": "first"}], schema=arrow4))
try:
    t2.append(pa.Table.from_pylist([{"id": 14, "name": "v", "score": None, "tag": "second"}], schema=arrow4))
    print("conflict NOT RAISED")
except CommitFailedException:
    print("conflict CommitFailedException")
show("rows final", cat.load_table("py.events"))

# HEAD, rename, drop (which keeps the files), register the dropped table's metadata
# under a new name, drop that with purge.
s = cat.create_table("py.scratch", schema=schema)
s.append(pa.Table.from_pylist([{"id": 1, "name": "s", "score": None}], schema=arrow3))
print("exists py.scratch", cat.table_exists("py.scratch"))
cat.rename_table("py.scratch", "py.scratch2")
print("renamed py.scratch2", cat.table_exists("py.scratch2"), "py.scratch", cat.table_exists("py.scratch"))
location = cat.load_table("py.scratch2").metadata_location
cat.drop_table("py.scratch2")
print("dropped py.scratch2", cat.table_exists("py.scratch2"))
restored = cat.register_table("py.restored", location)
print("registered py.restored rows=%d" % restored.scan().to_arrow().num_rows)
cat.purge_table("py.restored")
print("purged py.restored", cat.table_exists("py.restored"))

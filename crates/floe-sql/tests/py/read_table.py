"""Reads an Iceberg table from its metadata file with pyiceberg (no catalog) and prints
its schema and rows in a canonical text form, one item per line, rows sorted. A uuid
value prints as its canonical text whether pyarrow hands it over as a UUID or as its
16 bytes."""
import datetime
import decimal
import sys
import uuid

from pyiceberg.table import StaticTable
from pyiceberg.types import UUIDType


def canon(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, bytes):
        return v.hex()
    return str(v)


table = StaticTable.from_metadata(sys.argv[1])
for field in table.schema().fields:
    print(f"field {field.field_id} {field.name} {field.field_type}")
uuid_fields = {f.name for f in table.schema().fields if isinstance(f.field_type, UUIDType)}


def value(name, v):
    if name in uuid_fields and isinstance(v, bytes):
        return str(uuid.UUID(bytes=v))
    return canon(v)


arrow = table.scan().to_arrow()
rows = []
for row in arrow.to_pylist():
    rows.append(" ".join(f"{k}={value(k, v)}" for k, v in row.items()))
for r in sorted(rows):
    print("row", r)

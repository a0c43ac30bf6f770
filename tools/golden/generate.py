#!/usr/bin/env python3
"""Generate golden ETP v1.2 test vectors with an independent Avro encoder.

Usage:
    python tools/golden/generate.py /path/to/etp.avpr [--out DIR] [--print-table]

For every sample this writes, into DIR (default: crates/etp-protocol/tests/golden/):

  <name>.bin   one complete ETP WebSocket payload: MessageHeader datum,
               MessageHeaderExtension datum (only when flag 0x20 is set),
               message body datum; bare ("schemaless") Avro binary, no
               compression. Encoded with fastavro.schemaless_writer, except
               for the hand-crafted multi-block samples, whose arrays/maps are
               assembled here from items encoded with fastavro.
  <name>.json  {"description", "header", "extension", "body", "bodyType",
               "reencodeIdentical"}; the datums in the JSON convention
               described in tools/golden/README.md.

The output is deterministic: no clock, no random uuids, a fixed home-made PRNG.
Files in DIR named *.bin / *.json that are not part of the sample set are
removed, so DIR always holds exactly the current samples.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import struct
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import fastavro

DT = "Energistics.Etp.v12.Datatypes."
PR = "Energistics.Etp.v12.Protocol."
HEADER_TYPE = DT + "MessageHeader"
EXTENSION_TYPE = DT + "MessageHeaderExtension"
PROTOCOL_EXCEPTION_TYPE = PR + "Core.ProtocolException"
ACKNOWLEDGE_TYPE = PR + "Core.Acknowledge"

FIN = 0x02
COMPRESSED = 0x08
ACK_REQUESTED = 0x10
HAS_EXTENSION = 0x20

I32_MIN, I32_MAX = -(2**31), 2**31 - 1
I64_MIN, I64_MAX = -(2**63), 2**63 - 1

PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "string", "bytes"}

# Variant names of the tagged unions (DataValue.item, AnyArray.item, IndexValue.item)
PRIMITIVE_VARIANT = {
    "boolean": "Boolean",
    "int": "Int",
    "long": "Long",
    "float": "Float",
    "double": "Double",
    "string": "String",
    "bytes": "Bytes",
}

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "crates" / "etp-protocol" / "tests" / "golden"


# ---------------------------------------------------------------------------
# Multi-block arrays and maps
# ---------------------------------------------------------------------------


class Blocked:
    """An array (list) or map (dict) to be written in several Avro blocks.

    `blocks` is a list of signed item counts: `n > 0` writes a block with the
    positive count n; `n < 0` writes a block with count -|n| followed by the
    block's byte size (the form Java's BlockingBinaryEncoder uses). The
    absolute values must add up to the number of items. fastavro never writes
    this; the generator assembles these bytes itself.
    """

    def __init__(self, items, blocks):
        total = sum(abs(b) for b in blocks)
        if total != len(items) or any(b == 0 for b in blocks):
            raise ValueError(f"blocks {blocks} do not cover {len(items)} items")
        self.items = items
        self.blocks = list(blocks)


def contains_blocked(datum) -> bool:
    if isinstance(datum, Blocked):
        return True
    if isinstance(datum, dict):
        return any(contains_blocked(v) for v in datum.values())
    if isinstance(datum, (list, tuple)):
        # big arrays of scalars: skip quickly
        if datum and isinstance(datum[0], (int, float, bool, bytes, str)) and isinstance(datum, list):
            return False
        return any(contains_blocked(v) for v in datum)
    return False


def unblock(x):
    return x.items if isinstance(x, Blocked) else x


# ---------------------------------------------------------------------------
# Schema handling
# ---------------------------------------------------------------------------


def full_name(t: dict) -> str:
    if "." in t["name"]:
        return t["name"]
    ns = t.get("namespace")
    return f"{ns}.{t['name']}" if ns else t["name"]


def is_nullable_union(s: list) -> bool:
    return len(s) == 2 and s[0] == "null" and s[1] != "null"


class Schema:
    """All named types of etp.avpr, parsed by fastavro in declaration order."""

    def __init__(self, avpr_path: str | Path):
        with open(avpr_path, encoding="utf-8") as f:
            proto = json.load(f)
        types = proto["types"]
        self.raw: dict[str, dict] = {}
        self.named: dict = {}  # fastavro's shared named_schemas
        self.parsed: dict[str, dict] = {}
        self.messages: dict[tuple[int, int], str] = {}
        self.type_count = len(types)
        # declaration order is dependency order in etp.avpr; fall back to a
        # topological sort if a future schema is not.
        for t in self._dependency_order(types):
            name = full_name(t)
            self.raw[name] = t
            self.parsed[name] = fastavro.parse_schema(t, self.named)
            if t["type"] == "record" and "protocol" in t and "messageType" in t:
                key = (int(t["protocol"]), int(t["messageType"]))
                if key in self.messages:
                    raise ValueError(f"duplicate message {key}")
                self.messages[key] = name
        self._sub_cache: dict[str, dict] = {}

    @staticmethod
    def _dependency_order(types: list[dict]) -> list[dict]:
        by_name = {full_name(t): t for t in types}
        done: set[str] = set()
        out: list[dict] = []

        def visit(name: str, stack: tuple = ()):
            if name in done:
                return
            if name in stack:
                raise ValueError(f"recursive type {name}")
            t = by_name[name]
            for dep in t.get("depends", []):
                if dep in by_name:
                    visit(dep, stack + (name,))
            done.add(name)
            out.append(t)

        for t in types:
            visit(full_name(t))
        return out

    # -- helpers ---------------------------------------------------------------

    def resolve(self, s):
        """Named type reference -> its raw definition; anything else as is."""
        if isinstance(s, str) and s not in PRIMITIVES:
            if s not in self.raw:
                raise KeyError(f"unknown type {s}")
            return self.raw[s]
        if isinstance(s, dict) and s.get("type") in ("record", "enum", "fixed") and "name" in s:
            return self.raw[full_name(s)]
        return s

    def body_type(self, protocol: int, message_type: int) -> str:
        if message_type == 1000:
            return PROTOCOL_EXCEPTION_TYPE
        if message_type == 1001:
            return ACKNOWLEDGE_TYPE
        return self.messages[(protocol, message_type)]

    def _fastavro_schema(self, schema):
        """A fastavro-parsed schema whose encoding equals `schema`'s.

        Named types are used as parsed. Anything else (primitive, array, map,
        union) is wrapped in a one-field record, which Avro encodes exactly
        like the field itself (records have no framing)."""
        if isinstance(schema, str) and schema in self.parsed:
            return self.parsed[schema], False
        key = json.dumps(schema, sort_keys=True)
        if key not in self._sub_cache:
            wrapper = {
                "type": "record",
                "name": f"golden.sub.S{len(self._sub_cache)}",
                "fields": [{"name": "v", "type": schema}],
            }
            self._sub_cache[key] = fastavro.parse_schema(wrapper, self.named)
        return self._sub_cache[key], True

    # -- encoding --------------------------------------------------------------

    def fa_encode(self, schema, datum) -> bytes:
        parsed, wrapped = self._fastavro_schema(schema)
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, parsed, {"v": datum} if wrapped else datum, strict=True)
        return buf.getvalue()

    def encode_long(self, n: int) -> bytes:
        return self.fa_encode("long", n)

    def encode(self, schema, datum) -> bytes:
        """Encode `datum`; fastavro does it all unless a Blocked is inside."""
        if not contains_blocked(datum):
            return self.fa_encode(schema, datum)
        s = self.resolve(schema)
        if isinstance(s, list):
            index, value = self.union_branch(s, datum)
            return self.encode_long(index) + self.encode(s[index], value)
        t = s["type"] if isinstance(s, dict) else s
        if t == "record":
            names = [f["name"] for f in s["fields"]]
            if set(datum) != set(names):
                raise ValueError(f"{full_name(s)}: fields {sorted(datum)} != {names}")
            return b"".join(self.encode(f["type"], datum[f["name"]]) for f in s["fields"])
        if t in ("array", "map"):
            if t == "array":
                items = list(unblock(datum))
                enc_item = lambda it: self.encode(s["items"], it)  # noqa: E731
            else:
                items = list(unblock(datum).items())
                enc_item = lambda kv: self.fa_encode("string", kv[0]) + self.encode(s["values"], kv[1])  # noqa: E731
            blocks = datum.blocks if isinstance(datum, Blocked) else ([len(items)] if items else [])
            out = bytearray()
            pos = 0
            for b in blocks:
                n = abs(b)
                body = b"".join(enc_item(it) for it in items[pos : pos + n])
                pos += n
                if b > 0:
                    out += self.encode_long(n) + body
                else:
                    out += self.encode_long(-n) + self.encode_long(len(body)) + body
            out += self.encode_long(0)
            return bytes(out)
        raise TypeError(f"cannot hold a Blocked inside {t}")

    def union_branch(self, union: list, datum):
        """(branch index, value) the way fastavro picks it for our datums."""
        if datum is None:
            return union.index("null"), None
        if isinstance(datum, tuple):
            name, value = datum
            for i, b in enumerate(union):
                bn = b if isinstance(b, str) else full_name(b)
                if bn == name:
                    return i, value
            raise ValueError(f"branch {name} not in {union}")
        if is_nullable_union(union):
            return 1, datum
        raise ValueError(f"tagged union value must be a (branch, value) tuple: {datum!r}")

    # -- JSON convention -------------------------------------------------------

    def to_json(self, schema, datum, path="$"):
        """Writer datum -> JSON convention, validating it strictly."""
        s = self.resolve(schema)
        if isinstance(s, list):
            index, value = self.union_branch(s, datum)
            branch = s[index]
            if is_nullable_union(s):
                return None if index == 0 else self.to_json(branch, value, path)
            if branch == "null":
                return "Null"
            return {variant_name(branch): self.to_json(branch, value, path)}
        t = s["type"] if isinstance(s, dict) else s
        if t == "null":
            if datum is not None:
                raise ValueError(f"{path}: expected null")
            return None
        if t == "boolean":
            if not isinstance(datum, bool):
                raise ValueError(f"{path}: expected bool, got {datum!r}")
            return datum
        if t in ("int", "long"):
            lo, hi = (I32_MIN, I32_MAX) if t == "int" else (I64_MIN, I64_MAX)
            if not isinstance(datum, int) or isinstance(datum, bool) or not lo <= datum <= hi:
                raise ValueError(f"{path}: bad {t} {datum!r}")
            return datum
        if t in ("float", "double"):
            if not isinstance(datum, float) or not math.isfinite(datum):
                raise ValueError(f"{path}: {t} must be a finite Python float, got {datum!r}")
            if t == "float" and struct.unpack("<f", struct.pack("<f", datum))[0] != datum:
                raise ValueError(f"{path}: {datum!r} is not exactly representable as f32")
            return datum
        if t == "string":
            if not isinstance(datum, str):
                raise ValueError(f"{path}: expected str, got {type(datum)}")
            datum.encode("utf-8")  # no lone surrogates
            return datum
        if t == "bytes":
            if not isinstance(datum, (bytes, bytearray)):
                raise ValueError(f"{path}: expected bytes")
            return list(datum)
        if t == "fixed":
            if not isinstance(datum, (bytes, bytearray)) or len(datum) != s["size"]:
                raise ValueError(f"{path}: bad fixed {datum!r}")
            if full_name(s) == DT + "Uuid":
                return str(uuid.UUID(bytes=bytes(datum)))
            return list(datum)
        if t == "enum":
            if datum not in s["symbols"]:
                raise ValueError(f"{path}: {datum!r} not a symbol of {full_name(s)}")
            return datum
        if t == "record":
            names = [f["name"] for f in s["fields"]]
            if not isinstance(datum, dict) or set(datum) != set(names):
                got = sorted(datum) if isinstance(datum, dict) else type(datum)
                raise ValueError(f"{path}: {full_name(s)} needs fields {names}, got {got}")
            return {f["name"]: self.to_json(f["type"], datum[f["name"]], f"{path}.{f['name']}") for f in s["fields"]}
        if t == "array":
            items = unblock(datum)
            if not isinstance(items, list):
                raise ValueError(f"{path}: expected list")
            it = s["items"]
            if it in ("double", "float", "long", "int"):
                # fast path for the big arrays
                return [self.to_json(it, v, path) for v in items]
            return [self.to_json(it, v, f"{path}[{i}]") for i, v in enumerate(items)]
        if t == "map":
            items = unblock(datum)
            if not isinstance(items, dict):
                raise ValueError(f"{path}: expected dict")
            return {k: self.to_json(s["values"], v, f"{path}{{{k}}}") for k, v in items.items() if _key(k, path)}
        raise TypeError(f"{path}: unsupported schema {s!r}")

    def from_json(self, schema, j):
        """JSON convention -> fastavro datum (tuple notation for tagged unions)."""
        s = self.resolve(schema)
        if isinstance(s, list):
            if is_nullable_union(s):
                return None if j is None else self.from_json(s[1], j)
            if j == "Null":
                return None
            (variant, value), = j.items()
            for b in s:
                if b != "null" and variant_name(b) == variant:
                    bn = b if isinstance(b, str) else full_name(b)
                    return (bn, self.from_json(b, value))
            raise ValueError(f"variant {variant} not in {s}")
        t = s["type"] if isinstance(s, dict) else s
        if t == "bytes":
            return bytes(j)
        if t == "fixed":
            return uuid.UUID(j).bytes if full_name(s) == DT + "Uuid" else bytes(j)
        if t == "record":
            return {f["name"]: self.from_json(f["type"], j[f["name"]]) for f in s["fields"]}
        if t == "array":
            it = s["items"]
            if isinstance(it, str) and it in PRIMITIVES and it != "bytes":
                return list(j)
            return [self.from_json(it, v) for v in j]
        if t == "map":
            return {k: self.from_json(s["values"], v) for k, v in j.items()}
        return j


def _key(k, path) -> bool:
    if not isinstance(k, str):
        raise ValueError(f"{path}: map key {k!r} is not a string")
    return True


def variant_name(branch) -> str:
    if isinstance(branch, str) and branch in PRIMITIVE_VARIANT:
        return PRIMITIVE_VARIANT[branch]
    name = branch if isinstance(branch, str) else full_name(branch)
    return name.rsplit(".", 1)[-1]


# ---------------------------------------------------------------------------
# Datum helpers
# ---------------------------------------------------------------------------

_TAGGED_NAMED = {
    "ArrayOfBoolean": DT + "ArrayOfBoolean",
    "ArrayOfNullableBoolean": DT + "ArrayOfNullableBoolean",
    "ArrayOfInt": DT + "ArrayOfInt",
    "ArrayOfNullableInt": DT + "ArrayOfNullableInt",
    "ArrayOfLong": DT + "ArrayOfLong",
    "ArrayOfNullableLong": DT + "ArrayOfNullableLong",
    "ArrayOfFloat": DT + "ArrayOfFloat",
    "ArrayOfDouble": DT + "ArrayOfDouble",
    "ArrayOfString": DT + "ArrayOfString",
    "ArrayOfBytes": DT + "ArrayOfBytes",
    "AnySparseArray": DT + "AnySparseArray",
    "PassIndexedDepth": DT + "ChannelData.PassIndexedDepth",
}
_VARIANT_PRIMITIVE = {v: k for k, v in PRIMITIVE_VARIANT.items()}


def tagged(variant: str, value=None):
    """Value of a tagged union in fastavro tuple notation. ArrayOf* take the list."""
    if variant == "Null":
        return None
    if variant in _VARIANT_PRIMITIVE:
        return (_VARIANT_PRIMITIVE[variant], value)
    if variant.startswith("ArrayOf"):
        return (_TAGGED_NAMED[variant], {"values": value})
    if variant == "AnySparseArray":
        return (_TAGGED_NAMED[variant], {"slices": value})
    return (_TAGGED_NAMED[variant], value)


def dv(variant: str, value=None) -> dict:
    """Datatypes.DataValue"""
    return {"item": tagged(variant, value)}


def aa(variant: str, value) -> dict:
    """Datatypes.AnyArray"""
    return {"item": tagged(variant, value)}


def iv(variant: str, value=None) -> dict:
    """Datatypes.IndexValue"""
    return {"item": tagged(variant, value)}


def pass_depth(pass_no: int, direction: str, depth: float) -> dict:
    return iv("PassIndexedDepth", {"pass": pass_no, "direction": direction, "depth": depth})


def U(text: str) -> bytes:
    """Fixed, documented uuid (RFC 4122 byte order)."""
    return uuid.UUID(text).bytes


class SplitMix64:
    """Tiny PRNG with a fixed algorithm, so output never depends on Python's."""

    def __init__(self, seed: int):
        self.state = seed & 0xFFFFFFFFFFFFFFFF

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        return z ^ (z >> 31)

    def bytes(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            out += self.next().to_bytes(8, "little")
        return bytes(out[:n])


T0 = 1_718_000_000_000_000  # 2024-06-10T06:13:20Z in microseconds
V12 = {"major": 1, "minor": 2, "revision": 0, "patch": 0}


def header(protocol: int, message_type: int, correlation_id: int, message_id: int, flags: int = FIN) -> dict:
    return {
        "protocol": protocol,
        "messageType": message_type,
        "correlationId": correlation_id,
        "messageId": message_id,
        "messageFlags": flags,
    }


def resource(uri, name, *, alternate=(), source_count=None, target_count=None, last_changed=T0,
             store_last_write=T0, store_created=T0 - 3_600_000_000, status="Active", custom=None) -> dict:
    return {
        "uri": uri,
        "alternateUris": list(alternate),
        "name": name,
        "sourceCount": source_count,
        "targetCount": target_count,
        "lastChanged": last_changed,
        "storeLastWrite": store_last_write,
        "storeCreated": store_created,
        "activeStatus": status,
        "customData": {} if custom is None else custom,
    }


def data_object(res, data: bytes = b"", blob_id: bytes | None = None, fmt="xml") -> dict:
    return {"resource": res, "format": fmt, "blobId": blob_id, "data": data}


def context(uri, depth=1, types=(), edges="Primary", sec_targets=False, sec_sources=False) -> dict:
    return {
        "uri": uri,
        "depth": depth,
        "dataObjectTypes": list(types),
        "navigableEdges": edges,
        "includeSecondaryTargets": sec_targets,
        "includeSecondarySources": sec_sources,
    }


def interval(start, end, uom, datum="") -> dict:
    return {"startIndex": start, "endIndex": end, "uom": uom, "depthDatum": datum}


def index_meta(kind, ivl, uom, *, direction="Increasing", name="", datum="", pk="", filterable=True) -> dict:
    return {
        "indexKind": kind,
        "interval": ivl,
        "direction": direction,
        "name": name,
        "uom": uom,
        "depthDatum": datum,
        "indexPropertyKindUri": pk,
        "filterable": filterable,
    }


def attr_meta(attr_id, name, kind, uom="", datum="", pk="", axis=()) -> dict:
    return {
        "attributeId": attr_id,
        "attributeName": name,
        "dataKind": kind,
        "uom": uom,
        "depthDatum": datum,
        "attributePropertyKindUri": pk,
        "axisVectorLengths": list(axis),
    }


def channel_meta(uri, cid, indexes, name, kind, uom, *, datum="", klass="", status="Active", source="",
                 axis=(), attrs=(), custom=None) -> dict:
    return {
        "uri": uri,
        "id": cid,
        "indexes": indexes,
        "channelName": name,
        "dataKind": kind,
        "uom": uom,
        "depthDatum": datum,
        "channelClassUri": klass,
        "status": status,
        "source": source,
        "axisVectorLengths": list(axis),
        "attributeMetadata": list(attrs),
        "customData": {} if custom is None else custom,
    }


def data_item(cid, indexes, value, attrs=()) -> dict:
    attrs = attrs if isinstance(attrs, Blocked) else list(attrs)
    return {"channelId": cid, "indexes": indexes, "value": value, "valueAttributes": attrs}


def attribute(attr_id, value) -> dict:
    return {"attributeId": attr_id, "attributeValue": value}


def subscription(ctx, scope, request_uuid, include_data, fmt="xml") -> dict:
    return {"context": ctx, "scope": scope, "requestUuid": request_uuid, "includeObjectData": include_data, "format": fmt}


def array_id(uri, path) -> dict:
    return {"uri": uri, "pathInResource": path}


def dataspace(uri, path, custom=None, last_write=T0, created=T0 - 86_400_000_000) -> dict:
    return {"uri": uri, "path": path, "storeLastWrite": last_write, "storeCreated": created,
            "customData": {} if custom is None else custom}


def put_response(created=(), deleted=(), joined=(), unjoined=()) -> dict:
    return {
        "createdContainedObjectUris": list(created),
        "deletedContainedObjectUris": list(deleted),
        "joinedContainedObjectUris": list(joined),
        "unjoinedContainedObjectUris": list(unjoined),
    }


# ---------------------------------------------------------------------------
# Realistic content
# ---------------------------------------------------------------------------

DS = "eml:///dataspace('maap/volve')"
CRS_UUID = "0ae56ef3-fc79-405b-8deb-6942e0f2e77c"
GRID_UUID = "f9a4c6d2-3b1e-4c8a-9d7f-2e5b8a1c0d34"
CRS_URI = f"{DS}/eml20.LocalDepth3dCrs({CRS_UUID})"
GRID_URI = f"{DS}/resqml20.obj_Grid2dRepresentation({GRID_UUID})"
EPC_URI = f"{DS}/eml20.obj_EpcExternalPartReference(a1b2c3d4-0000-4000-8000-00000000e9c0)"
WELL_URI = "eml:///witsml20.Well(6bf6e5a2-7d1c-4f0e-9a35-0f0c8a3b9e11)"
WELLBORE_URI = "eml:///witsml20.Wellbore(8e1b2f3c-4d5e-4f60-8a7b-9c0d1e2f3a4b)"
LOG_URI = "eml:///witsml20.Log(2c6f0e4a-9b8d-4e7f-a1c2-3d4e5f60718a)"
TRAJ_URI = "eml:///witsml20.Trajectory(5d7e9f1a-2b3c-4d5e-8f70-81a2b3c4d5e6)"
CH_GR_URI = "eml:///witsml20.Channel(c0ffee00-0000-4000-8000-000000000001)"
CH_ROP_URI = "eml:///witsml20.Channel(c0ffee00-0000-4000-8000-000000000002)"
CH_TIME_URI = "eml:///witsml20.Channel(c0ffee00-0000-4000-8000-000000000003)"

RESQML_CRS_XML = f"""<?xml version="1.0" encoding="utf-8"?>
<resqml2:LocalDepth3dCrs xmlns:resqml2="http://www.energistics.org/energyml/data/resqmlv2" xmlns:eml="http://www.energistics.org/energyml/data/commonv2" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" schemaVersion="2.0" uuid="{CRS_UUID}" xsi:type="resqml2:obj_LocalDepth3dCrs">
  <eml:Citation>
    <eml:Title>Volve ED50 / UTM 31N — dybde</eml:Title>
    <eml:Originator>pyetp</eml:Originator>
    <eml:Creation>2024-06-10T06:13:20Z</eml:Creation>
    <eml:Format>golden-vector generator</eml:Format>
  </eml:Citation>
  <resqml2:YOffset>6478000.0</resqml2:YOffset>
  <resqml2:ZOffset>0.0</resqml2:ZOffset>
  <resqml2:ArealRotation uom="rad">0.0</resqml2:ArealRotation>
  <resqml2:ProjectedAxisOrder>easting northing</resqml2:ProjectedAxisOrder>
  <resqml2:ProjectedUom>m</resqml2:ProjectedUom>
  <resqml2:VerticalUom>m</resqml2:VerticalUom>
  <resqml2:XOffset>435000.0</resqml2:XOffset>
  <resqml2:ZIncreasingDownward>true</resqml2:ZIncreasingDownward>
  <resqml2:VerticalCrs xsi:type="eml:VerticalUnknownCrs"><eml:Unknown>unknown</eml:Unknown></resqml2:VerticalCrs>
  <resqml2:ProjectedCrs xsi:type="eml:ProjectedEpsgCrs"><eml:EpsgCode>23031</eml:EpsgCode></resqml2:ProjectedCrs>
</resqml2:LocalDepth3dCrs>
""".encode("utf-8")

RESQML_GRID_XML = f"""<?xml version="1.0" encoding="utf-8"?>
<resqml2:Grid2dRepresentation xmlns:resqml2="http://www.energistics.org/energyml/data/resqmlv2" xmlns:eml="http://www.energistics.org/energyml/data/commonv2" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" schemaVersion="2.0" uuid="{GRID_UUID}" xsi:type="resqml2:obj_Grid2dRepresentation">
  <eml:Citation><eml:Title>Top Hugin surface</eml:Title><eml:Originator>pyetp</eml:Originator><eml:Creation>2024-06-10T06:13:20Z</eml:Creation><eml:Format>golden-vector generator</eml:Format></eml:Citation>
  <resqml2:SurfaceRole>map</resqml2:SurfaceRole>
  <resqml2:Grid2dPatch>
    <resqml2:PatchIndex>0</resqml2:PatchIndex>
    <resqml2:FastestAxisCount>250</resqml2:FastestAxisCount>
    <resqml2:SlowestAxisCount>400</resqml2:SlowestAxisCount>
    <resqml2:Geometry>
      <resqml2:LocalCrs><eml:ContentType>application/x-resqml+xml;version=2.0;type=obj_LocalDepth3dCrs</eml:ContentType><eml:Title>Volve</eml:Title><eml:UUID>{CRS_UUID}</eml:UUID></resqml2:LocalCrs>
      <resqml2:Points xsi:type="resqml2:Point3dZValueArray">
        <resqml2:ZValues xsi:type="resqml2:DoubleHdf5Array"><resqml2:Values><eml:PathInHdfFile>/RESQML/{GRID_UUID}/zvalues</eml:PathInHdfFile><eml:HdfProxy><eml:ContentType>application/x-eml+xml;version=2.0;type=obj_EpcExternalPartReference</eml:ContentType><eml:Title>Hdf Proxy</eml:Title><eml:UUID>a1b2c3d4-0000-4000-8000-00000000e9c0</eml:UUID></eml:HdfProxy></resqml2:Values></resqml2:ZValues>
      </resqml2:Points>
    </resqml2:Geometry>
  </resqml2:Grid2dPatch>
</resqml2:Grid2dRepresentation>
""".encode("utf-8")

WITSML_TRAJ_STATION_XML = (
    '<TrajectoryStation xmlns="http://www.energistics.org/energyml/data/witsmlv2" uid="st-{n}">'
    '<TypeTrajStation>magnetic MWD</TypeTrajStation><Md uom="m">{md}</Md>'
    '<Incl uom="dega">{inc}</Incl><Azi uom="dega">{azi}</Azi></TrajectoryStation>'
)


def traj_station(n, md, inc, azi) -> bytes:
    return WITSML_TRAJ_STATION_XML.format(n=n, md=md, inc=inc, azi=azi).encode("utf-8")


def all_datavalue_branches() -> dict:
    """One map entry per DataValue.item branch, in branch order."""
    return {
        "00-null": dv("Null"),
        "01-boolean": dv("Boolean", True),
        "02-int": dv("Int", I32_MIN),
        "03-long": dv("Long", I64_MAX),
        "04-float": dv("Float", -0.25),
        "05-double": dv("Double", 2.718281828459045),
        "06-string": dv("String", "Ærøskøbing ✓ 井 🛢"),
        "07-ArrayOfBoolean": dv("ArrayOfBoolean", [True, False, True]),
        "08-ArrayOfNullableBoolean": dv("ArrayOfNullableBoolean", [True, None, False]),
        "09-ArrayOfInt": dv("ArrayOfInt", [I32_MIN, -1, 0, 1, I32_MAX]),
        "10-ArrayOfNullableInt": dv("ArrayOfNullableInt", [None, I32_MIN, 7, None, I32_MAX]),
        "11-ArrayOfLong": dv("ArrayOfLong", [I64_MIN, -(2**40), 0, 2**40, I64_MAX]),
        "12-ArrayOfNullableLong": dv("ArrayOfNullableLong", [I64_MIN, None, 0, I64_MAX]),
        "13-ArrayOfFloat": dv("ArrayOfFloat", [1.5, -0.25, 3.0, 0.0, 65504.0]),
        "14-ArrayOfDouble": dv("ArrayOfDouble", [0.1, -1e-300, 1.7976931348623157e308, 5e-324, -0.0]),
        "15-ArrayOfString": dv("ArrayOfString", ["", "ascii", "naïve", "日本語", "😀"]),
        "16-ArrayOfBytes": dv("ArrayOfBytes", [b"", b"\x00\xff\x80", b"RESQML"]),
        "17-bytes": dv("Bytes", bytes(range(256))),
        "18-AnySparseArray": dv("AnySparseArray", [
            {"start": 0, "slice": aa("ArrayOfDouble", [1.0, 2.0, 3.0])},
            {"start": 1000, "slice": aa("ArrayOfInt", [-5, 5])},
            {"start": 2**40, "slice": aa("Bytes", b"\x01\x02")},
        ]),
    }


def mixed_longs(rng: SplitMix64, n: int) -> list[int]:
    """Values of every varint length 1..10, both signs, plus the extremes."""
    out = [I64_MIN, I64_MAX, 0, -1, 1, I32_MIN, I32_MAX, I32_MIN - 1, I32_MAX + 1]
    i = 0
    while len(out) < n:
        bits = (i * 7) % 64  # magnitude class
        r = rng.next()
        v = r >> (64 - bits) if bits else 0
        if r & 1:
            v = -v - 1
        out.append(v)
        i += 1
    return out


def depth_doubles(rng: SplitMix64, n: int) -> list[float]:
    """Surface depths in metres with millimetre resolution, plus a few awkward values.

    Integer arithmetic then one correctly rounded division, so the values never
    depend on the platform's libm."""
    out = []
    for i in range(n):
        phase = i % 4000
        tri = phase if phase < 2000 else 4000 - phase  # triangle wave 0..2000
        milli = 2_485_000 + 15 * tri + rng.next() % 500  # 2485.000 .. 2515.499 m
        v = milli / 1000
        out.append(-v if i % 10 == 9 else v)
    out[0] = 0.0
    out[1] = -0.0
    out[2] = 5e-324
    out[3] = 1.7976931348623157e308
    out[4] = -1.7976931348623157e308
    out[5] = math.pi
    return out


# ---------------------------------------------------------------------------
# Samples
# ---------------------------------------------------------------------------


@dataclass
class Sample:
    name: str
    message: str  # short name of the body record, checked against the header
    description: str
    covers: str  # for the README table
    header: dict
    body: dict
    extension: dict | None = None


def build_samples() -> list[Sample]:
    rng = SplitMix64(0x5EED_E7B1_2)
    S: list[Sample] = []

    def add(name, message, description, covers, hdr, body, extension=None):
        S.append(Sample(name, message, description, covers, hdr, body, extension))

    # ---- 0 Core -------------------------------------------------------------
    add(
        "core_request_session_pyetp", "RequestSession",
        "pyetp's RequestSession exactly as in 01-core.md §2 (fixed uuid/time); header 00 02 00 04 04.",
        "pyetp content, DataValue Int capability, header `00 02 00 04 04`",
        header(0, 1, 0, 2),
        {
            "applicationName": "pyetp",
            "applicationVersion": "0.0.43",
            "clientInstanceId": U("3f2504e0-4f89-41d3-9a0c-0305e82c3301"),
            "requestedProtocols": [
                {"protocol": p, "protocolVersion": V12, "role": "store", "protocolCapabilities": {}}
                for p in (3, 4, 9, 18, 24)
            ],
            "supportedDataObjects": [
                {"qualifiedType": "eml20.*", "dataObjectCapabilities": {}},
                {"qualifiedType": "resqml20.", "dataObjectCapabilities": {}},
            ],
            "supportedCompression": ["gzip"],
            "supportedFormats": ["xml"],
            "currentDateTime": T0,
            "earliestRetainedChangeTime": 0,
            "serverAuthorizationRequired": False,
            "endpointCapabilities": {"MaxWebSocketMessagePayloadSize": dv("Int", 1048576)},
        },
    )
    add(
        "core_open_session", "OpenSession",
        "OpenSession answering pyetp (correlationId 2, messageId 1): long/boolean/string-array capabilities, "
        "protocol and data-object capabilities; header 00 04 04 02 04.",
        "Long/Boolean/ArrayOfString capabilities, nested maps, header `00 04 04 02 04`",
        header(0, 2, 2, 1),
        {
            "applicationName": "etp-rs server",
            "applicationVersion": "0.1.0",
            "serverInstanceId": U("9b2f1c44-8f6a-4c1e-b5d3-6a7e8f901234"),
            "supportedProtocols": [
                {"protocol": 3, "protocolVersion": V12, "role": "store",
                 "protocolCapabilities": {"MaxResponseCount": dv("Long", 10000)}},
                {"protocol": 4, "protocolVersion": V12, "role": "store",
                 "protocolCapabilities": {"MaxDataObjectSize": dv("Long", 104857600)}},
                {"protocol": 9, "protocolVersion": V12, "role": "store",
                 "protocolCapabilities": {"MaxDataArraySize": dv("Long", 4294967296)}},
                {"protocol": 18, "protocolVersion": V12, "role": "store",
                 "protocolCapabilities": {"MaxTransactionCount": dv("Long", 1),
                                          "TransactionTimeoutPeriod": dv("Long", 600)}},
                {"protocol": 24, "protocolVersion": V12, "role": "store", "protocolCapabilities": {}},
            ],
            "supportedDataObjects": [
                {"qualifiedType": "resqml20.*", "dataObjectCapabilities": {
                    "SupportsGet": dv("Boolean", True), "SupportsPut": dv("Boolean", True),
                    "SupportsDelete": dv("Boolean", True)}},
                {"qualifiedType": "eml20.*", "dataObjectCapabilities": {}},
            ],
            "supportedCompression": "gzip",
            "supportedFormats": ["xml"],
            "currentDateTime": T0 + 1234,
            "earliestRetainedChangeTime": T0 - 86_400_000_000 * 30,
            "sessionId": U("6d0b2c5e-1f3a-4b7c-8d9e-0a1b2c3d4e5f"),
            "endpointCapabilities": {
                "MaxWebSocketMessagePayloadSize": dv("Long", 16777216),
                "MaxWebSocketFramePayloadSize": dv("Long", 1048576),
                "SupportsMessageHeaderExtensions": dv("Boolean", False),
                "SupportsAlternateRequestUris": dv("Boolean", False),
                "AuthorizationDetails": dv("ArrayOfString", [
                    'Bearer authz_server="https://login.example.com/tenant", scope="api://etp/.default"']),
            },
        },
    )
    add(
        "core_request_session_all_datavalue_branches", "RequestSession",
        "RequestSession whose endpointCapabilities hold one DataValue of each of the 19 union branches "
        "(keys are prefixed with the branch index), incl. int/long extremes and unicode.",
        "all 19 `DataValue.item` branches, extremes, empty supportedCompression",
        header(0, 1, 0, 2),
        {
            "applicationName": "golden-vectors ✓",
            "applicationVersion": "",
            "clientInstanceId": U("00000000-0000-0000-0000-000000000000"),
            "requestedProtocols": [
                {"protocol": 1, "protocolVersion": V12, "role": "producer", "protocolCapabilities": {}},
                {"protocol": 21, "protocolVersion": V12, "role": "store", "protocolCapabilities": {
                    "MaxSubscriptionSessionCount": dv("Long", 64)}},
            ],
            "supportedDataObjects": [],
            "supportedCompression": [],
            "supportedFormats": ["xml", "json"],
            "currentDateTime": T0,
            "earliestRetainedChangeTime": T0,
            "serverAuthorizationRequired": True,
            "endpointCapabilities": all_datavalue_branches(),
        },
    )
    add(
        "core_close_session", "CloseSession",
        "CloseSession with reason \"bye\" (body 06 62 79 65).",
        "string field, body `06 62 79 65`",
        header(0, 5, 0, 10),
        {"reason": "bye"},
    )
    add(
        "core_close_session_empty_reason", "CloseSession",
        "CloseSession from the server with an empty reason (body 00).",
        "empty string",
        header(0, 5, 0, 17),
        {"reason": ""},
    )
    add(
        "core_authorize", "Authorize",
        "Authorize with a bearer token and a supplementalAuthorization map.",
        "map<string>",
        header(0, 6, 0, 4),
        {
            "authorization": "Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJnb2xkZW4ifQ.c2lnbmF0dXJl",
            "supplementalAuthorization": {"data-partition-id": "opendes", "x-tenant": "Nordsjø"},
        },
    )
    add(
        "core_authorize_response", "AuthorizeResponse",
        "AuthorizeResponse failure with two challenges.",
        "boolean false, array<string>",
        header(0, 7, 4, 3),
        {"success": False, "challenges": [
            'Bearer authz_server="https://login.example.com/tenant", scope="api://etp/.default"',
            'Basic realm="etp"']},
    )
    add(
        "core_ping_with_header_extension", "Ping",
        "Ping with flags 0x22 (FIN | HasHeaderExtension) and a MessageHeaderExtension with three DataValues.",
        "header extension (flag 0x20)",
        header(0, 8, 0, 12, FIN | HAS_EXTENSION),
        {"currentDateTime": T0 + 5_000_000},
        {"extension": {
            "traceparent": dv("String", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            "hopCount": dv("Int", 3),
            "routing": dv("ArrayOfString", ["gw-1", "store-7"]),
        }},
    )
    add(
        "core_pong", "Pong",
        "Pong answering the ping (correlationId 12).",
        "simple long body",
        header(0, 9, 12, 19),
        {"currentDateTime": T0 + 5_000_321},
    )
    add(
        "core_pong_empty_header_extension", "Pong",
        "Pong with flag 0x20 and an EMPTY extension map (extension datum is the single byte 00).",
        "header extension with empty map",
        header(0, 9, 14, 21, FIN | HAS_EXTENSION),
        {"currentDateTime": -1},
        {"extension": {}},
    )
    add(
        "store_protocol_exception_error", "ProtocolException",
        "ProtocolException in Store (header protocol 4, messageType 1000) with `error` {\"Not found\", 11} "
        "and empty `errors`; header 08 d0 0f 0c 12 04, body 02 12 4e 6f 74 20 66 6f 75 6e 64 16 00.",
        "`error` set, messageType 1000 in protocol 4",
        header(4, 1000, 6, 9),
        {"error": {"message": "Not found", "code": 11}, "errors": {}},
    )
    add(
        "store_protocol_exception_errors_map", "ProtocolException",
        "ProtocolException in Store with error null and errors {\"k1\": {\"x\", 11}} (body 00 02 04 6b 31 02 78 16 00).",
        "`errors` map, nullable null",
        header(4, 1000, 8, 11),
        {"error": None, "errors": {"k1": {"message": "x", "code": 11}}},
    )
    add(
        "core_protocol_exception_undecodable", "ProtocolException",
        "Session-level ProtocolException (protocol 0, correlationId 0) for an undecodable message, code 19, unicode text.",
        "protocol 0 ProtocolException, unicode message",
        header(0, 1000, 0, 23),
        {"error": {"message": "Message invalide: en-tête tronqué — 3 octets reçus", "code": 19}, "errors": {}},
    )
    add(
        "store_acknowledge", "Acknowledge",
        "Acknowledge in Store (protocol 4, messageType 1001) for message 6; the body is empty (0 bytes).",
        "empty record body, messageType 1001",
        header(4, 1001, 6, 7),
        {},
    )

    # ---- 1 ChannelStreaming --------------------------------------------------
    time_index = index_meta(
        "DateTime", interval(iv("Long", T0), iv("Long", T0 + 3_600_000_000), "s"), "s",
        name="Time", pk="eml:///eml20.PropertyKind(time)")
    depth_index = index_meta(
        "MeasuredDepth", interval(iv("Double", 0.0), iv("Double", 3512.75), "m", "KB"), "m",
        name="MD", datum="KB", pk="eml:///eml20.PropertyKind(measured_depth)")
    add(
        "channelstreaming_channel_metadata", "ChannelMetadata",
        "ChannelMetadata with two channels: time- and depth-indexed, attribute metadata, customData.",
        "nested records, enums, IndexValue Long/Double",
        header(1, 1, 0, 3),
        {"channels": [
            channel_meta(CH_GR_URI, 1, [depth_index], "GR", "typeDouble", "gAPI", datum="KB",
                         klass="eml:///eml20.PropertyKind(gamma_ray_API_unit)", source="MWD tool 7",
                         attrs=[attr_meta(1, "quality", "typeInt"), attr_meta(2, "confidence", "typeFloat", "%")],
                         custom={"vendor": dv("String", "Acme")}),
            channel_meta(CH_TIME_URI, 2, [time_index], "Hookload", "typeFloat", "klbf", status="Inactive",
                         axis=[3]),
        ]},
    )
    add(
        "channelstreaming_channel_data", "ChannelData",
        "ChannelData (protocol 1) with DataItems using every IndexValue branch (Long, Double, PassIndexedDepth, "
        "Null) and values of several DataValue branches, with valueAttributes.",
        "all 4 `IndexValue.item` branches, DataItems",
        header(1, 2, 0, 5),
        {"data": [
            data_item(2, [iv("Long", T0 + 1_000_000)], dv("Float", 245.5)),
            data_item(1, [iv("Double", 1524.25)], dv("Double", 87.34375),
                      [attribute(1, dv("Int", 3)), attribute(2, dv("Float", 0.75))]),
            data_item(1, [pass_depth(2, "Down", 1524.5)], dv("Double", -999.25)),
            data_item(3, [iv("Null")], dv("Null")),
            data_item(4, [iv("Long", -5), iv("Double", -0.5)], dv("ArrayOfFloat", [1.0, 2.5, -3.0])),
            data_item(5, [pass_depth(-1, "HoldingSteady", -12.125), pass_depth(I64_MAX, "Up", 0.0)],
                      dv("String", "rig state: tripping ↑")),
        ]},
    )
    add(
        "channelstreaming_start_streaming", "StartStreaming",
        "StartStreaming: empty record body.",
        "empty body, protocol 1",
        header(1, 3, 0, 2),
        {},
    )
    add(
        "channelstreaming_truncate_channels", "TruncateChannels",
        "TruncateChannels (protocol 1) with new end indexes.",
        "TruncateInfo",
        header(1, 5, 0, 7),
        {"channels": [
            {"channelId": 1, "newEndIndex": iv("Double", 1500.0)},
            {"channelId": 2, "newEndIndex": iv("Long", T0)},
        ]},
    )

    # ---- 2 ChannelDataFrame --------------------------------------------------
    add(
        "channeldataframe_get_frame", "GetFrame",
        "GetFrame for a log with a requested interval, requestUuid and a secondary interval.",
        "IndexInterval, Uuid, array of records",
        header(2, 3, 0, 6),
        {
            "uri": LOG_URI,
            "includeAllChannelSecondaryIndexes": True,
            "requestedInterval": interval(iv("Double", 1000.0), iv("Double", 1100.5), "m", "KB"),
            "requestUuid": U("1b4e28ba-2fa1-11d2-883f-0016d3cca427"),
            "requestedSecondaryIntervals": [interval(iv("Long", T0), iv("Long", T0 + 60_000_000), "us")],
        },
    )
    add(
        "channeldataframe_get_frame_metadata_response", "GetFrameMetadataResponse",
        "GetFrameMetadataResponse with index metadata and FrameChannelMetadataRecords.",
        "FrameChannelMetadataRecord",
        header(2, 2, 4, 5),
        {
            "uri": LOG_URI,
            "indexes": [depth_index, time_index],
            "channels": [
                {"uri": CH_GR_URI, "channelName": "GR", "dataKind": "typeDouble", "uom": "gAPI",
                 "depthDatum": "KB", "channelPropertyKindUri": "eml:///eml20.PropertyKind(gamma_ray_API_unit)",
                 "status": "Active", "source": "", "axisVectorLengths": [],
                 "attributeMetadata": [attr_meta(1, "quality", "typeInt")], "customData": {}},
                {"uri": CH_ROP_URI, "channelName": "ROP", "dataKind": "typeDouble", "uom": "m/h",
                 "depthDatum": "KB", "channelPropertyKindUri": "eml:///eml20.PropertyKind(velocity)",
                 "status": "Inactive", "source": "surface", "axisVectorLengths": [2, 2],
                 "attributeMetadata": [], "customData": {"smoothing": dv("Double", 0.5)}},
            ],
        },
    )
    add(
        "channeldataframe_get_frame_response_rows", "GetFrameResponseRows",
        "GetFrameResponseRows: three rows of points, one with a null value and value attributes; not FIN (flags 0).",
        "FrameRow/FramePoint, flags 0 (non-final part)",
        header(2, 6, 6, 9, 0),
        {"frame": [
            {"indexes": [iv("Double", 1000.0), iv("Long", T0)],
             "points": [{"value": dv("Double", 88.5), "valueAttributes": []},
                        {"value": dv("Double", 12.25), "valueAttributes": [attribute(1, dv("Int", 0))]}]},
            {"indexes": [iv("Double", 1000.5), iv("Long", T0 + 30_000_000)],
             "points": [{"value": dv("Null"), "valueAttributes": []},
                        {"value": dv("Double", 13.0), "valueAttributes": []}]},
            {"indexes": [iv("Double", 1001.0), iv("Null")],
             "points": [{"value": dv("Double", 91.125), "valueAttributes": []},
                        {"value": dv("Long", -42), "valueAttributes": []}]},
        ]},
    )

    # ---- 3 Discovery ---------------------------------------------------------
    add(
        "discovery_get_resources", "GetResources",
        "pyetp-style GetResources on a dataspace: scope targetsOrSelf, filters null.",
        "enums, nullable null",
        header(3, 1, 0, 4),
        {"context": context(DS, 1, ["resqml20.obj_Grid2dRepresentation", "eml20.LocalDepth3dCrs"]),
         "scope": "targetsOrSelf", "countObjects": False, "storeLastWriteFilter": None,
         "activeStatusFilter": None, "includeEdges": False},
    )
    add(
        "discovery_get_resources_with_filters", "GetResources",
        "GetResources with storeLastWriteFilter and activeStatusFilter set, secondary edges, countObjects.",
        "nullable long/enum set",
        header(3, 1, 0, 3_000_000_000),
        {"context": context("eml:///", 2, [], "Both", True, True),
         "scope": "sourcesOrSelf", "countObjects": True, "storeLastWriteFilter": T0 - 1,
         "activeStatusFilter": "Inactive", "includeEdges": True},
    )
    add(
        "discovery_get_resources_response", "GetResourcesResponse",
        "GetResourcesResponse with three Resources: counts null and set, alternate URIs, unicode names, customData.",
        "Resource, nullable int, unicode",
        header(3, 4, 4, 5),
        {"resources": [
            resource(DS, "maap/volve", source_count=0, target_count=42,
                     custom={"path": dv("String", "maap/volve")}),
            resource(CRS_URI, "Volve ED50 / UTM 31N — dybde",
                     alternate=[f"eml:///eml20.LocalDepth3dCrs({CRS_UUID})"], source_count=1, target_count=0),
            resource(GRID_URI, "Top Hugin · 上部", store_last_write=T0 + 1, status="Inactive"),
        ]},
    )
    add(
        "discovery_get_resources_response_empty", "GetResourcesResponse",
        "Empty GetResourcesResponse (body 00).",
        "empty array",
        header(3, 4, 6, 7),
        {"resources": []},
    )
    add(
        "discovery_get_deleted_resources_response", "GetDeletedResourcesResponse",
        "GetDeletedResourcesResponse with deleted resources, one with customData.",
        "DeletedResource",
        header(3, 6, 8, 9),
        {"deletedResources": [
            {"uri": f"{DS}/resqml20.obj_HorizonInterpretation(11111111-2222-4333-8444-555555555555)",
             "deletedTime": T0 + 42, "customData": {}},
            {"uri": f"{DS}/resqml20.obj_FaultInterpretation(66666666-7777-4888-9999-aaaaaaaaaaaa)",
             "deletedTime": 0, "customData": {"reason": dv("String", "pruned"), "by": dv("Null")}},
        ]},
    )
    add(
        "discovery_get_resources_edges_response", "GetResourcesEdgesResponse",
        "GetResourcesEdgesResponse with Primary and Secondary edges.",
        "Edge, RelationshipKind",
        header(3, 7, 4, 7),
        {"edges": [
            {"sourceUri": GRID_URI, "targetUri": CRS_URI, "relationshipKind": "Primary", "customData": {}},
            {"sourceUri": GRID_URI, "targetUri": EPC_URI, "relationshipKind": "Secondary",
             "customData": {"weight": dv("Float", 0.5)}},
        ]},
    )

    # ---- 4 Store -------------------------------------------------------------
    add(
        "store_get_data_objects", "GetDataObjects",
        "GetDataObjects for two URIs (map keys are request-local ids).",
        "map<string>",
        header(4, 1, 0, 6),
        {"uris": {"0": CRS_URI, "1": GRID_URI}, "format": "xml"},
    )
    add(
        "store_get_data_objects_ack_and_extension", "GetDataObjects",
        "GetDataObjects with flags 0x32 (FIN | AcknowledgeRequested | HasHeaderExtension) and an extension.",
        "flags 0x32, extension with Long/Boolean",
        header(4, 1, 0, 8, FIN | ACK_REQUESTED | HAS_EXTENSION),
        {"uris": {"crs": CRS_URI}, "format": "json"},
        {"extension": {"deadlineMicros": dv("Long", T0 + 30_000_000), "dryRun": dv("Boolean", True)}},
    )
    add(
        "store_put_data_objects_resqml", "PutDataObjects",
        "PutDataObjects with two RESQML 2.0.1 XML documents as bytes; messageId > 2^31.",
        "RESQML XML bytes, messageId 3000000002",
        header(4, 2, 0, 3_000_000_002),
        {"dataObjects": {
            "0": data_object(resource(CRS_URI, "Volve ED50 / UTM 31N — dybde", store_created=0,
                                      store_last_write=0, last_changed=T0), RESQML_CRS_XML),
            "1": data_object(resource(GRID_URI, "Top Hugin surface", store_created=0, store_last_write=0),
                             RESQML_GRID_XML),
        }, "pruneContainedObjects": False},
    )
    add(
        "store_put_data_objects_response", "PutDataObjectsResponse",
        "PutDataObjectsResponse answering the large-id request (correlationId 3000000002, messageId 4294967297).",
        "large correlationId/messageId, PutResponse",
        header(4, 9, 3_000_000_002, 4_294_967_297),
        {"success": {
            "0": put_response(),
            "1": put_response(created=[EPC_URI], joined=[CRS_URI], unjoined=[], deleted=[]),
        }},
    )
    add(
        "store_get_data_objects_response_with_blob", "GetDataObjectsResponse",
        "GetDataObjectsResponse: one object inline, one announced with blobId and empty data (to be sent as Chunks); "
        "not final (flags 0).",
        "nullable Uuid set/null, empty bytes",
        header(4, 4, 6, 7, 0),
        {"dataObjects": {
            "0": data_object(resource(CRS_URI, "Volve ED50 / UTM 31N — dybde"), RESQML_CRS_XML),
            "1": data_object(resource(GRID_URI, "Top Hugin surface"), b"",
                             U("d9e8c7b6-a594-4837-8261-504f3e2d1c0b")),
        }},
    )
    add(
        "store_chunk", "Chunk",
        "Chunk (protocol 4) carrying the final piece of a blob.",
        "Chunk in protocol 4",
        header(4, 8, 6, 9),
        {"blobId": U("d9e8c7b6-a594-4837-8261-504f3e2d1c0b"), "data": RESQML_GRID_XML[:300], "final": True},
    )
    add(
        "store_chunk_256kib", "Chunk",
        "Chunk (protocol 4) with a 256 KiB pseudo-random payload, final false, flags 0.",
        "bytes of 262144 bytes",
        header(4, 8, 6, 11, 0),
        {"blobId": U("d9e8c7b6-a594-4837-8261-504f3e2d1c0b"), "data": SplitMix64(256).bytes(256 * 1024),
         "final": False},
    )
    add(
        "store_delete_data_objects", "DeleteDataObjects",
        "DeleteDataObjects with pruneContainedObjects true.",
        "boolean true, map<string>",
        header(4, 3, 0, 14),
        {"uris": {"g": GRID_URI}, "pruneContainedObjects": True},
    )
    add(
        "store_delete_data_objects_response", "DeleteDataObjectsResponse",
        "DeleteDataObjectsResponse: map<ArrayOfString> with an empty and a non-empty list.",
        "map of records, empty array inside",
        header(4, 10, 14, 15),
        {"deletedUris": {"g": {"values": [GRID_URI, EPC_URI]}, "none": {"values": []}}},
    )

    # ---- 5 StoreNotification -------------------------------------------------
    req_uuid_5 = U("7e1d8a9b-0c2f-4e3d-8b4a-5c6d7e8f9012")
    add(
        "storenotification_subscribe_notifications", "SubscribeNotifications",
        "SubscribeNotifications with one SubscriptionInfo.",
        "SubscriptionInfo map",
        header(5, 6, 0, 20),
        {"request": {"sub-1": subscription(context(DS, 3, ["resqml20.*"], "Primary"), "targets", req_uuid_5, True)}},
    )
    add(
        "storenotification_object_changed", "ObjectChanged",
        "ObjectChanged notification (correlationId 0) with an update and the object data.",
        "ObjectChange, notification correlationId 0",
        header(5, 2, 0, 33),
        {"change": {"changeKind": "update", "changeTime": T0 + 77,
                    "dataObject": data_object(resource(CRS_URI, "Volve ED50 / UTM 31N — dybde"), RESQML_CRS_XML)},
         "requestUuid": req_uuid_5},
    )
    add(
        "storenotification_object_active_status_changed", "ObjectActiveStatusChanged",
        "ObjectActiveStatusChanged to Inactive.",
        "enum + Resource",
        header(5, 11, 0, 35),
        {"activeStatus": "Inactive", "changeTime": T0 + 99,
         "resource": resource(WELLBORE_URI, "15/9-F-12", status="Inactive"), "requestUuid": req_uuid_5},
    )
    add(
        "storenotification_chunk", "Chunk",
        "Chunk in StoreNotification (protocol 5).",
        "Chunk in protocol 5",
        header(5, 9, 0, 37),
        {"blobId": U("0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"), "data": b"<eml:Title>\xe2\x9c\x93</eml:Title>",
         "final": True},
    )

    # ---- 6 GrowingObject -----------------------------------------------------
    add(
        "growingobject_put_parts", "PutParts",
        "PutParts: two WITSML trajectory stations.",
        "ObjectPart map",
        header(6, 5, 0, 40),
        {"uri": TRAJ_URI, "format": "xml", "parts": {
            "0": {"uid": "st-1", "data": traj_station(1, 100.0, 0.5, 123.25)},
            "1": {"uid": "st-2", "data": traj_station(2, 130.0, 1.25, 124.0)},
        }},
    )
    add(
        "growingobject_get_parts_by_range", "GetPartsByRange",
        "GetPartsByRange over an MD interval.",
        "IndexInterval with Double",
        header(6, 4, 0, 42),
        {"uri": TRAJ_URI, "format": "xml",
         "indexInterval": interval(iv("Double", 0.0), iv("Double", 500.0), "m", "MSL"),
         "includeOverlappingIntervals": True},
    )
    add(
        "growingobject_get_change_annotations_response", "GetChangeAnnotationsResponse",
        "GetChangeAnnotationsResponse (protocol 6): map of ChangeResponseInfo with map<array<ChangeAnnotation>>.",
        "map of map of array of records",
        header(6, 20, 44, 45),
        {"changes": {"0": {"responseTimestamp": T0, "changes": {
            TRAJ_URI: [{"changeTime": T0 - 10,
                        "interval": interval(iv("Double", 100.0), iv("Double", 130.0), "m")},
                       {"changeTime": T0 - 5,
                        "interval": interval(iv("Double", 130.0), iv("Double", 160.0), "m")}],
            "empty": [],
        }}}},
    )
    add(
        "growingobject_get_parts_metadata_response", "GetPartsMetadataResponse",
        "GetPartsMetadataResponse with a PartsMetadataInfo.",
        "PartsMetadataInfo",
        header(6, 9, 46, 47),
        {"metadata": {"0": {"uri": TRAJ_URI, "name": "F-12 trajectory",
                            "index": index_meta("MeasuredDepth",
                                                interval(iv("Double", 100.0), iv("Double", 3500.0), "m"),
                                                "m", name="MD"),
                            "customData": {}}}},
    )

    # ---- 7 GrowingObjectNotification -----------------------------------------
    req_uuid_7 = U("a7b6c5d4-e3f2-4a1b-9c8d-7e6f5a4b3c2d")
    add(
        "growingobjectnotification_parts_changed", "PartsChanged",
        "PartsChanged insert notification with one part.",
        "ObjectChangeKind, array of ObjectPart",
        header(7, 2, 0, 51),
        {"uri": TRAJ_URI, "requestUuid": req_uuid_7, "changeKind": "insert", "changeTime": T0 + 1,
         "format": "xml", "parts": [{"uid": "st-3", "data": traj_station(3, 160.0, 2.0, 125.5)}]},
    )
    add(
        "growingobjectnotification_parts_replaced_by_range", "PartsReplacedByRange",
        "PartsReplacedByRange with deleted interval and no new parts.",
        "empty array, empty format string",
        header(7, 6, 0, 53),
        {"uri": TRAJ_URI, "requestUuid": req_uuid_7, "changeTime": T0 + 2,
         "deletedInterval": interval(iv("Double", 100.0), iv("Double", 200.0), "m"),
         "includeOverlappingIntervals": False, "format": "", "parts": []},
    )

    # ---- 9 DataArray ---------------------------------------------------------
    add(
        "dataarray_get_data_arrays", "GetDataArrays",
        "pyetp-style GetDataArrays for the z-values of a Grid2dRepresentation.",
        "DataArrayIdentifier",
        header(9, 2, 0, 60),
        {"dataArrays": {"0": array_id(EPC_URI, f"/RESQML/{GRID_UUID}/zvalues")}},
    )
    add(
        "dataarray_get_data_arrays_response_all_anyarray", "GetDataArraysResponse",
        "GetDataArraysResponse with one DataArray per AnyArray.item branch (7), incl. negatives and extremes.",
        "all 7 `AnyArray.item` branches",
        header(9, 1, 60, 61),
        {"dataArrays": {
            "0-bool": {"dimensions": [2, 2], "data": aa("ArrayOfBoolean", [True, False, False, True])},
            "1-int": {"dimensions": [5], "data": aa("ArrayOfInt", [I32_MIN, -7, 0, 7, I32_MAX])},
            "2-long": {"dimensions": [4], "data": aa("ArrayOfLong", [I64_MIN, -(2**35), 2**35, I64_MAX])},
            "3-float": {"dimensions": [3], "data": aa("ArrayOfFloat", [1.5, -0.25, 3.0])},
            "4-double": {"dimensions": [1, 3], "data": aa("ArrayOfDouble", [2500.125, -0.001, 1e-10])},
            "5-string": {"dimensions": [3], "data": aa("ArrayOfString", ["Hugin", "", "Sleipner Øst"])},
            "6-bytes": {"dimensions": [8], "data": aa("Bytes", b"\x00\x01\x7f\x80\xfe\xff\x10\x20")},
        }},
    )
    add(
        "dataarray_get_data_arrays_response_large_double", "GetDataArraysResponse",
        "GetDataArraysResponse with a 400x250 ArrayOfDouble (100,000 values, depth-like, plus 0, -0, "
        "subnormal, ±max, pi).",
        "100,000 doubles",
        header(9, 1, 62, 63),
        {"dataArrays": {"0": {"dimensions": [400, 250], "data": aa("ArrayOfDouble", depth_doubles(rng, 100_000))}}},
    )
    add(
        "dataarray_put_data_arrays_large_long", "PutDataArrays",
        "PutDataArrays with a 250x200 ArrayOfLong of 50,000 values of every varint length, both signs, "
        "incl. i64/i32 extremes; customData.",
        "50,000 mixed-magnitude longs",
        header(9, 4, 0, 64),
        {"dataArrays": {"0": {
            "uid": array_id(EPC_URI, f"/RESQML/{GRID_UUID}/cellIndices"),
            "array": {"dimensions": [250, 200], "data": aa("ArrayOfLong", mixed_longs(rng, 50_000))},
            "customData": {"nullValue": dv("Long", I64_MIN)},
        }}},
    )
    add(
        "dataarray_put_data_arrays", "PutDataArrays",
        "PutDataArrays of a small float array with customData holding an ArrayOfString.",
        "PutDataArraysType, float values",
        header(9, 4, 0, 66),
        {"dataArrays": {"zvalues": {
            "uid": array_id(EPC_URI, f"/RESQML/{GRID_UUID}/zvalues"),
            "array": {"dimensions": [2, 3], "data": aa("ArrayOfFloat", [2500.5, 2501.0, 2501.25, -1.0, 0.0, 1024.0])},
            "customData": {"attributes": dv("ArrayOfString", ["unit=m", "crs=ED50"])},
        }}},
    )
    add(
        "dataarray_put_data_subarrays", "PutDataSubarrays",
        "PutDataSubarrays: a 2x3 double block at (100, 50) and a bytes block.",
        "starts/counts, AnyArray",
        header(9, 5, 0, 68),
        {"dataSubarrays": {
            "0": {"uid": array_id(EPC_URI, f"/RESQML/{GRID_UUID}/zvalues"),
                  "data": aa("ArrayOfDouble", [1.0, 1.5, 2.0, 2.5, 3.0, 3.5]),
                  "starts": [100, 50], "counts": [2, 3]},
            "1": {"uid": array_id(EPC_URI, f"/RESQML/{GRID_UUID}/mask"),
                  "data": aa("Bytes", b"\x01\x00\x01"), "starts": [0], "counts": [3]},
        }},
    )
    add(
        "dataarray_get_data_subarrays", "GetDataSubarrays",
        "GetDataSubarrays with starts/counts.",
        "GetDataSubarraysType",
        header(9, 3, 0, 70),
        {"dataSubarrays": {"0": {"uid": array_id(EPC_URI, f"/RESQML/{GRID_UUID}/zvalues"),
                                 "starts": [0, 0], "counts": [200, 250]}}},
    )
    meta = {"dimensions": [400, 250], "preferredSubarrayDimensions": [100, 250],
            "transportArrayType": "arrayOfDouble", "logicalArrayType": "arrayOfDouble64LE",
            "storeLastWrite": T0, "storeCreated": T0 - 1, "customData": {}}
    add(
        "dataarray_get_data_array_metadata_response", "GetDataArrayMetadataResponse",
        "GetDataArrayMetadataResponse with transport/logical array type enums.",
        "DataArrayMetadata, AnyArrayType/AnyLogicalArrayType",
        header(9, 7, 72, 73),
        {"arrayMetadata": {"0": meta,
                           "1": dict(meta, dimensions=[8], preferredSubarrayDimensions=[],
                                     transportArrayType="bytes", logicalArrayType="arrayOfUInt16BE",
                                     customData={"signed": dv("Boolean", False)})}},
    )
    add(
        "dataarray_put_uninitialized_data_arrays", "PutUninitializedDataArrays",
        "PutUninitializedDataArrays for a large int array.",
        "PutUninitializedDataArrayType",
        header(9, 9, 0, 74),
        {"dataArrays": {"0": {"uid": array_id(EPC_URI, f"/RESQML/{GRID_UUID}/big"),
                              "metadata": dict(meta, dimensions=[100000, 100000], transportArrayType="arrayOfInt",
                                               logicalArrayType="arrayOfInt32LE")}}},
    )
    add(
        "dataarray_put_data_arrays_response", "PutDataArraysResponse",
        "PutDataArraysResponse with an empty map (body 00).",
        "empty map",
        header(9, 10, 66, 67),
        {"success": {}},
    )

    # ---- 13 DiscoveryQuery ---------------------------------------------------
    add(
        "discoveryquery_find_resources", "FindResources",
        "FindResources with a storeLastWriteFilter.",
        "FindResources",
        header(13, 1, 0, 80),
        {"context": context(DS, 1, ["witsml20.Well"]), "scope": "self", "storeLastWriteFilter": 0,
         "activeStatusFilter": "Active"},
    )
    add(
        "discoveryquery_find_resources_response", "FindResourcesResponse",
        "FindResourcesResponse with a resource and a serverSortOrder.",
        "FindResourcesResponse",
        header(13, 2, 80, 81),
        {"resources": [resource(WELL_URI, "15/9-F-12", source_count=None, target_count=3)],
         "serverSortOrder": "name"},
    )

    # ---- 14 StoreQuery -------------------------------------------------------
    add(
        "storequery_find_data_objects_response", "FindDataObjectsResponse",
        "FindDataObjectsResponse with one object whose data follows as Chunks.",
        "array of DataObject",
        header(14, 2, 90, 91, 0),
        {"dataObjects": [data_object(resource(GRID_URI, "Top Hugin surface"), b"",
                                     U("b1a2c3d4-e5f6-4789-8abc-def012345678"))],
         "serverSortOrder": ""},
    )
    add(
        "storequery_chunk", "Chunk",
        "Chunk in StoreQuery (protocol 14), final.",
        "Chunk in protocol 14",
        header(14, 3, 90, 93),
        {"blobId": U("b1a2c3d4-e5f6-4789-8abc-def012345678"), "data": RESQML_GRID_XML, "final": True},
    )
    add(
        "storequery_find_data_objects", "FindDataObjects",
        "FindDataObjects with json format.",
        "FindDataObjects",
        header(14, 1, 0, 90),
        {"context": context(DS, 0, []), "scope": "self", "storeLastWriteFilter": None,
         "activeStatusFilter": None, "format": "json"},
    )

    # ---- 16 GrowingObjectQuery -----------------------------------------------
    add(
        "growingobjectquery_find_parts", "FindParts",
        "FindParts on a trajectory.",
        "FindParts",
        header(16, 1, 0, 100),
        {"uri": TRAJ_URI, "format": "xml"},
    )
    add(
        "growingobjectquery_find_parts_response", "FindPartsResponse",
        "FindPartsResponse with two parts.",
        "array of ObjectPart",
        header(16, 2, 100, 101),
        {"uri": TRAJ_URI, "serverSortOrder": "md", "format": "xml",
         "parts": [{"uid": "st-1", "data": traj_station(1, 100.0, 0.5, 123.25)},
                   {"uid": "st-2", "data": b""}]},
    )

    # ---- 18 Transaction ------------------------------------------------------
    tx = U("c4d5e6f7-0819-4a2b-bc3d-4e5f60718293")
    add(
        "transaction_start_transaction", "StartTransaction",
        "pyetp-style StartTransaction on one dataspace.",
        "StartTransaction",
        header(18, 1, 0, 110),
        {"readOnly": False, "message": "golden import", "dataspaceUris": [DS]},
    )
    add(
        "transaction_start_transaction_response", "StartTransactionResponse",
        "StartTransactionResponse success.",
        "Uuid",
        header(18, 2, 110, 111),
        {"transactionUuid": tx, "successful": True, "failureReason": ""},
    )
    add(
        "transaction_commit_transaction_max_ids", "CommitTransaction",
        "CommitTransaction with messageId 2^63-2 (largest even id).",
        "messageId near i64 max",
        header(18, 3, 0, I64_MAX - 1),
        {"transactionUuid": tx},
    )
    add(
        "transaction_commit_transaction_response_failure", "CommitTransactionResponse",
        "CommitTransactionResponse failure answering messageId 2^63-2 with messageId 2^63-1.",
        "correlationId/messageId near i64 max",
        header(18, 5, I64_MAX - 1, I64_MAX),
        {"transactionUuid": tx, "successful": False, "failureReason": "ETP-1234: dataspace is locked ✗"},
    )
    add(
        "transaction_rollback_transaction", "RollbackTransaction",
        "RollbackTransaction.",
        "RollbackTransaction",
        header(18, 4, 0, 114),
        {"transactionUuid": tx},
    )

    # ---- 21 ChannelSubscribe -------------------------------------------------
    add(
        "channelsubscribe_subscribe_channels", "SubscribeChannels",
        "SubscribeChannels with start indexes of several IndexValue branches and requestLatestIndexCount set/null.",
        "ChannelSubscribeInfo, nullable int",
        header(21, 3, 0, 120),
        {"channels": {
            "1": {"channelId": 1, "startIndex": iv("Double", 1500.0), "dataChanges": True,
                  "requestLatestIndexCount": None},
            "2": {"channelId": 2, "startIndex": iv("Long", T0), "dataChanges": False,
                  "requestLatestIndexCount": 100},
            "3": {"channelId": 3, "startIndex": iv("Null"), "dataChanges": True,
                  "requestLatestIndexCount": I32_MAX},
            "4": {"channelId": 4, "startIndex": pass_depth(1, "Up", 2000.0), "dataChanges": True,
                  "requestLatestIndexCount": 0},
        }},
    )
    add(
        "channelsubscribe_channel_data", "ChannelData",
        "ChannelData in ChannelSubscribe (protocol 21) with double/long/string/array values.",
        "ChannelData in protocol 21",
        header(21, 4, 0, 123),
        {"data": [
            data_item(1, [iv("Double", 1500.5)], dv("Double", 45.0)),
            data_item(2, [iv("Long", T0 + 1)], dv("Long", -3)),
            data_item(6, [iv("Long", T0 + 1)], dv("ArrayOfDouble", [0.5, 0.25, 0.125])),
        ]},
    )
    add(
        "channelsubscribe_unsubscribe_channels", "UnsubscribeChannels",
        "UnsubscribeChannels: map<long> with extreme ids.",
        "map<long>, i64 extremes",
        header(21, 7, 0, 124),
        {"channelIds": {"a": 1, "b": I64_MAX, "c": I64_MIN, "d": -1}},
    )
    add(
        "channelsubscribe_get_ranges", "GetRanges",
        "GetRanges with a ChannelRangeInfo and a secondary interval.",
        "ChannelRangeInfo",
        header(21, 9, 0, 126),
        {"requestUuid": U("e1f2a3b4-c5d6-4e7f-8091-a2b3c4d5e6f7"),
         "channelRanges": [{"channelIds": [1, 2, 3],
                            "interval": interval(iv("Double", 0.0), iv("Double", 1000.0), "m"),
                            "secondaryIntervals": [interval(iv("Long", 0), iv("Long", T0), "us")]}]},
    )
    add(
        "channelsubscribe_range_replaced", "RangeReplaced",
        "RangeReplaced notification.",
        "RangeReplaced",
        header(21, 6, 0, 127),
        {"changeTime": T0 + 9, "channelIds": [1],
         "changedInterval": interval(iv("Double", 100.0), iv("Double", 101.0), "m"),
         "data": [data_item(1, [iv("Double", 100.5)], dv("Double", 3.0))]},
    )
    add(
        "channelsubscribe_get_change_annotations", "GetChangeAnnotations",
        "GetChangeAnnotations (protocol 21) with ChannelChangeRequestInfo.",
        "ChannelChangeRequestInfo",
        header(21, 14, 0, 128),
        {"channels": {"0": {"sinceChangeTime": T0, "channelIds": [1, 2]}}, "latestOnly": True},
    )

    # ---- 22 ChannelDataLoad --------------------------------------------------
    add(
        "channeldataload_open_channels_response", "OpenChannelsResponse",
        "OpenChannelsResponse with OpenChannelInfo.",
        "OpenChannelInfo",
        header(22, 2, 130, 131),
        {"channels": {"0": {"metadata": channel_meta(CH_ROP_URI, 7, [depth_index], "ROP", "typeDouble", "m/h"),
                            "preferRealtime": False, "dataChanges": True}}},
    )
    add(
        "channeldataload_channel_data", "ChannelData",
        "ChannelData in ChannelDataLoad (protocol 22), customer to store.",
        "ChannelData in protocol 22",
        header(22, 4, 0, 132),
        {"data": [data_item(7, [iv("Double", 1000.0)], dv("Double", 12.5)),
                  data_item(7, [iv("Double", 1000.5)], dv("Null"))]},
    )
    add(
        "channeldataload_truncate_channels", "TruncateChannels",
        "TruncateChannels in ChannelDataLoad (protocol 22): map of TruncateInfo.",
        "TruncateChannels in protocol 22",
        header(22, 9, 0, 134),
        {"channels": {"7": {"channelId": 7, "newEndIndex": iv("Double", 999.0)}}},
    )
    add(
        "channeldataload_replace_range_response", "ReplaceRangeResponse",
        "ReplaceRangeResponse.",
        "single long",
        header(22, 8, 136, 137),
        {"channelChangeTime": T0 + 10},
    )

    # ---- 24 Dataspace --------------------------------------------------------
    add(
        "dataspace_get_dataspaces", "GetDataspaces",
        "GetDataspaces with storeLastWriteFilter null (body 00).",
        "body `00`",
        header(24, 1, 0, 140),
        {"storeLastWriteFilter": None},
    )
    add(
        "dataspace_get_dataspaces_response", "GetDataspacesResponse",
        "GetDataspacesResponse with two dataspaces.",
        "Dataspace",
        header(24, 2, 140, 141),
        {"dataspaces": [dataspace(DS, "maap/volve"),
                        dataspace("eml:///dataspace('демо/ñandú')", "демо/ñandú", last_write=0, created=0)]},
    )
    add(
        "dataspace_put_dataspaces", "PutDataspaces",
        "pyetp/OSDU-style PutDataspaces with customData legaltags/owners/viewers as ArrayOfString.",
        "customData ArrayOfString",
        header(24, 3, 0, 142),
        {"dataspaces": {"0": dataspace(DS, "maap/volve", custom={
            "legaltags": dv("ArrayOfString", ["opendes-public-usa-dataset-1"]),
            "otherRelevantDataCountries": dv("ArrayOfString", ["US", "NO"]),
            "owners": dv("ArrayOfString", ["data.default.owners@opendes.example.com"]),
            "viewers": dv("ArrayOfString", ["data.default.viewers@opendes.example.com"]),
        })}},
    )
    add(
        "dataspace_delete_dataspaces_response", "DeleteDataspacesResponse",
        "DeleteDataspacesResponse with success map.",
        "map<string> with empty values",
        header(24, 5, 144, 145),
        {"success": {"0": "", "1": ""}},
    )

    # ---- 25 SupportedTypes ---------------------------------------------------
    add(
        "supportedtypes_get_supported_types", "GetSupportedTypes",
        "GetSupportedTypes on a dataspace.",
        "GetSupportedTypes",
        header(25, 1, 0, 150),
        {"uri": DS, "scope": "targets", "returnEmptyTypes": True, "countObjects": True},
    )
    add(
        "supportedtypes_get_supported_types_response", "GetSupportedTypesResponse",
        "GetSupportedTypesResponse with counts null and set.",
        "SupportedType, nullable int",
        header(25, 2, 150, 151),
        {"supportedTypes": [
            {"dataObjectType": "resqml20.obj_Grid2dRepresentation", "objectCount": 12, "relationshipKind": "Primary"},
            {"dataObjectType": "eml20.LocalDepth3dCrs", "objectCount": None, "relationshipKind": "Both"},
            {"dataObjectType": "resqml20.obj_WellboreTrajectoryRepresentation", "objectCount": 0,
             "relationshipKind": "Secondary"},
        ]},
    )

    # ---- hand-crafted multi-block encodings --------------------------------------
    mb_doubles = [1500.0 + 0.125 * i for i in range(1000)]
    mb_doubles[999] = -mb_doubles[999]
    add(
        "multiblock_get_data_arrays_response_double_two_blocks", "GetDataArraysResponse",
        "HAND-CRAFTED: ArrayOfDouble of 1000 values written in two positive-count blocks (600 + 400).",
        "array in 2 blocks",
        header(9, 1, 60, 201),
        {"dataArrays": {"0": {"dimensions": [1000],
                              "data": aa("ArrayOfDouble", Blocked(mb_doubles, [600, 400]))}}},
    )
    add(
        "multiblock_get_resources_response_three_blocks", "GetResourcesResponse",
        "HAND-CRAFTED: array of 5 Resource records in three blocks (2, then -2 with byte size, then 1).",
        "array of records in 3 blocks incl. negative count",
        header(3, 4, 4, 203),
        {"resources": Blocked([
            resource(f"{DS}/resqml20.obj_HorizonInterpretation(0000000{i}-aaaa-4bbb-8ccc-dddddddddddd)",
                     f"Horizon {i} — Hugin", source_count=i, target_count=None,
                     custom={"idx": dv("Int", i)} if i % 2 else {})
            for i in range(5)
        ], [2, -2, 1])},
    )
    add(
        "multiblock_protocol_exception_errors_two_blocks", "ProtocolException",
        "HAND-CRAFTED: ProtocolException (protocol 4) whose `errors` map is written in two blocks (2 + 1).",
        "map in 2 blocks",
        header(4, 1000, 6, 205),
        {"error": None, "errors": Blocked({
            "0": {"message": "Not found", "code": 11},
            "1": {"message": "Permission denied — lecture seule", "code": 9},
            "2": {"message": "Invalid URI: eml:///foo(", "code": 5},
        }, [2, 1])},
    )
    neg_longs = mixed_longs(SplitMix64(77), 500)
    add(
        "multiblock_put_data_arrays_long_negative_blocks", "PutDataArrays",
        "HAND-CRAFTED, Java BlockingBinaryEncoder style: ArrayOfLong of 500 values in negative-count blocks "
        "(-300 and -200, each followed by its byte size); `dimensions` also in a negative-count block; "
        "customData map in two blocks.",
        "long array with negative-count blocks",
        header(9, 4, 0, 206),
        {"dataArrays": {"0": {
            "uid": array_id(EPC_URI, f"/RESQML/{GRID_UUID}/ids"),
            "array": {"dimensions": Blocked([20, 25], [-2]),
                      "data": aa("ArrayOfLong", Blocked(neg_longs, [-300, -200]))},
            "customData": Blocked({"a": dv("Long", 1), "b": dv("String", "två")}, [1, -1]),
        }}},
    )
    add(
        "multiblock_channel_data_nested", "ChannelData",
        "HAND-CRAFTED: ChannelData (protocol 21) whose data array is in blocks (-1, 2) and whose nested "
        "indexes/valueAttributes arrays and a DataValue ArrayOfNullableInt are multi-block too.",
        "nested multi-block arrays",
        header(21, 4, 0, 207),
        {"data": Blocked([
            data_item(1, Blocked([iv("Double", 10.0), iv("Long", 20)], [1, 1]), dv("Double", 1.0)),
            data_item(2, [iv("Long", 30)], dv("ArrayOfNullableInt", Blocked([1, None, 3, None], [-3, 1])),
                      Blocked([attribute(1, dv("Int", 1)), attribute(2, dv("Null"))], [-1, -1])),
            data_item(3, Blocked([pass_depth(1, "Down", 5.5)], [-1]), dv("String", "ok")),
        ], [-1, 2])},
    )
    add(
        "multiblock_request_session_map", "RequestSession",
        "HAND-CRAFTED: RequestSession whose endpointCapabilities map is in negative blocks (-1, -2) and "
        "requestedProtocols array in blocks (3, 2).",
        "map with negative-count blocks, array of records in 2 blocks",
        header(0, 1, 0, 2),
        {
            "applicationName": "java-etp-client",
            "applicationVersion": "1.2.0",
            "clientInstanceId": U("01000100-0100-0100-0100-010001000102"),
            "requestedProtocols": Blocked([
                {"protocol": p, "protocolVersion": V12, "role": "store", "protocolCapabilities": {}}
                for p in (3, 4, 9, 18, 24)
            ], [3, 2]),
            "supportedDataObjects": [{"qualifiedType": "resqml20.*", "dataObjectCapabilities": {}}],
            "supportedCompression": [],
            "supportedFormats": ["xml"],
            "currentDateTime": T0,
            "earliestRetainedChangeTime": T0,
            "serverAuthorizationRequired": False,
            "endpointCapabilities": Blocked({
                "MaxWebSocketMessagePayloadSize": dv("Long", 10_000_000),
                "MaxWebSocketFramePayloadSize": dv("Long", 4096),
                "SupportsAlternateRequestUris": dv("Boolean", False),
            }, [-1, -2]),
        },
    )
    return S


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


@dataclass
class Encoded:
    sample: Sample
    body_type: str
    header_bytes: bytes
    extension_bytes: bytes
    body_bytes: bytes
    doc: dict

    @property
    def payload(self) -> bytes:
        return self.header_bytes + self.extension_bytes + self.body_bytes


def encode_sample(schema: Schema, s: Sample) -> Encoded:
    h = s.header
    body_type = schema.body_type(h["protocol"], h["messageType"])
    if body_type.rsplit(".", 1)[-1] != s.message:
        raise ValueError(f"{s.name}: header says {body_type}, sample says {s.message}")
    has_ext = bool(h["messageFlags"] & HAS_EXTENSION)
    if has_ext != (s.extension is not None):
        raise ValueError(f"{s.name}: flag 0x20 and extension disagree")
    if h["messageFlags"] & COMPRESSED:
        raise ValueError(f"{s.name}: golden samples are never compressed")
    reencode_identical = not (contains_blocked(h) or contains_blocked(s.extension) or contains_blocked(s.body))
    hb = schema.encode(HEADER_TYPE, h)
    eb = schema.encode(EXTENSION_TYPE, s.extension) if has_ext else b""
    bb = schema.encode(body_type, s.body)
    doc = {
        "description": s.description,
        "header": schema.to_json(HEADER_TYPE, h, "$.header"),
        "extension": schema.to_json(EXTENSION_TYPE, s.extension, "$.extension") if has_ext else None,
        "body": schema.to_json(body_type, s.body, "$.body"),
        "bodyType": body_type,
        "reencodeIdentical": reencode_identical,
    }
    return Encoded(s, body_type, hb, eb, bb, doc)


def dump_json(doc: dict) -> str:
    compact = json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    if len(compact) > 64 * 1024:
        return compact + "\n"
    return json.dumps(doc, ensure_ascii=False, allow_nan=False, indent=2) + "\n"


def markdown_table(encoded: list[Encoded]) -> str:
    lines = ["| file | protocol | message | bytes | exercises |", "|---|---:|---|---:|---|"]
    for e in encoded:
        h = e.sample.header
        lines.append(f"| `{e.sample.name}` | {h['protocol']} | {e.sample.message} "
                     f"({h['messageType']}) | {len(e.payload)} | {e.sample.covers} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("schema", help="path to etp.avpr")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help=f"output directory (default {DEFAULT_OUT})")
    ap.add_argument("--print-table", action="store_true", help="print the README sample table (markdown)")
    args = ap.parse_args(argv)

    schema = Schema(args.schema)
    samples = build_samples()
    names = [s.name for s in samples]
    if len(set(names)) != len(names):
        raise SystemExit("duplicate sample names")
    encoded = [encode_sample(schema, s) for s in samples]

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    wanted = set()
    for e in encoded:
        for suffix, data in ((".bin", e.payload), (".json", dump_json(e.doc).encode("utf-8"))):
            path = out / (e.sample.name + suffix)
            wanted.add(path.name)
            if not path.exists() or path.read_bytes() != data:
                path.write_bytes(data)
    for path in sorted(out.iterdir()):
        if path.suffix in (".bin", ".json") and path.name not in wanted:
            path.unlink()

    total = sum(len(e.payload) for e in encoded)
    protocols = sorted({e.sample.header["protocol"] for e in encoded})
    print(f"fastavro {fastavro.__version__}: wrote {len(encoded)} samples to {out} "
          f"({total} bytes of .bin); protocols {protocols}", file=sys.stderr)
    if args.print_table:
        print(markdown_table(encoded))
    return 0


if __name__ == "__main__":
    sys.exit(main())

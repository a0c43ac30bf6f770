#!/usr/bin/env python3
"""Self-check of the golden ETP vectors: decode every .bin back with fastavro.

Usage:
    python tools/golden/check_roundtrip.py /path/to/etp.avpr [--dir DIR]

For each <name>.bin / <name>.json pair in DIR (default
crates/etp-protocol/tests/golden/) this:

 1. decodes the MessageHeader, then (flag 0x20) the MessageHeaderExtension,
    then the body as `bodyType`, with fastavro.schemaless_reader, and checks
    that every byte was consumed;
 2. checks bodyType against the header (1000/1001 = ProtocolException /
    Acknowledge, otherwise the schema's protocol/messageType attributes);
 3. converts the decoded datums to the JSON convention and compares them,
    strictly (int vs float vs bool, union branch), with the .json file and
    with the datum generate.py builds for that sample in memory;
 4. re-encodes the datum with fastavro and checks the bytes equal the .bin
    when reencodeIdentical is true (and differ when it is false, i.e. for
    the hand-crafted multi-block samples);
 5. checks the hex examples of 00-wire.md §4 that the samples reproduce.

Tagged unions: fastavro's reader does not report which primitive branch
(int or long, float or double, ...) it read. To check the branch too, the
reader schema used here replaces each primitive branch of DataValue.item,
AnyArray.item and IndexValue.item by a one-field record wrapping that
primitive. A one-field record is encoded exactly like its field, so the
bytes are read with the same wire format, and fastavro (with
return_record_name=True) then names the branch it decoded.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import sys
from pathlib import Path

import fastavro

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate as gen  # noqa: E402

WRAP_NS = "golden.wrap"

# (sample, part, expected hex) from 00-wire.md §4
WIRE_HEX = [
    ("core_request_session_pyetp", "header", "00 02 00 04 04"),
    ("core_open_session", "header", "00 04 04 02 04"),
    ("store_protocol_exception_error", "header", "08 d0 0f 0c 12 04"),
    ("store_protocol_exception_error", "body", "02 12 4e 6f 74 20 66 6f 75 6e 64 16 00"),
    ("store_protocol_exception_errors_map", "body", "00 02 04 6b 31 02 78 16 00"),
    ("dataspace_get_dataspaces", "body", "00"),
    ("core_close_session", "body", "06 62 79 65"),
    ("store_acknowledge", "body", ""),
]


class Checker:
    def __init__(self, schema: gen.Schema):
        self.schema = schema
        self.named: dict = {}
        self.parsed: dict[str, dict] = {}
        for prim, variant in gen.PRIMITIVE_VARIANT.items():
            fastavro.parse_schema(
                {"type": "record", "name": variant, "namespace": WRAP_NS, "fields": [{"name": "v", "type": prim}]},
                self.named,
            )
        for name in schema.raw:  # raw preserves dependency order
            t = copy.deepcopy(schema.raw[name])
            if t["type"] == "record":
                for f in t["fields"]:
                    f["type"] = self._wrap(f["type"])
            self.parsed[name] = fastavro.parse_schema(t, self.named)

    def _wrap(self, s):
        if isinstance(s, list):
            if gen.is_nullable_union(s):
                return [self._wrap(b) for b in s]
            return [f"{WRAP_NS}.{gen.PRIMITIVE_VARIANT[b]}" if b in gen.PRIMITIVE_VARIANT else self._wrap(b)
                    for b in s]
        if isinstance(s, dict) and s.get("type") == "array":
            return dict(s, items=self._wrap(s["items"]))
        if isinstance(s, dict) and s.get("type") == "map":
            return dict(s, values=self._wrap(s["values"]))
        return s

    def read(self, fo, type_name):
        return fastavro.schemaless_reader(fo, self.parsed[type_name], None,
                                          return_record_name=True, return_record_name_override=False)

    def decoded_to_json(self, schema, d):
        """Datum as returned by `read` -> JSON convention."""
        sc = self.schema
        s = sc.resolve(schema)
        if isinstance(s, list):
            if gen.is_nullable_union(s):
                if d is None:
                    return None
                if isinstance(d, tuple):  # named branch reported by fastavro
                    name, d = d
                    assert name == (s[1] if isinstance(s[1], str) else gen.full_name(s[1])), name
                return self.decoded_to_json(s[1], d)
            if d is None:
                assert "null" in s
                return "Null"
            assert isinstance(d, tuple), f"tagged union read without branch name: {d!r}"
            name, value = d
            if name.startswith(WRAP_NS + "."):
                variant = name.rsplit(".", 1)[1]
                prim = {v: k for k, v in gen.PRIMITIVE_VARIANT.items()}[variant]
                assert prim in s
                return {variant: self.decoded_to_json(prim, value["v"])}
            assert name in s, (name, s)
            return {gen.variant_name(name): self.decoded_to_json(name, value)}
        t = s["type"] if isinstance(s, dict) else s
        if t == "bytes":
            return list(d)
        if t == "fixed":
            return sc.to_json(s, d)
        if t in ("float", "double"):
            assert isinstance(d, float), d
            return d
        if t in ("int", "long"):
            assert isinstance(d, int) and not isinstance(d, bool), d
            return d
        if t == "record":
            assert set(d) == {f["name"] for f in s["fields"]}
            return {f["name"]: self.decoded_to_json(f["type"], d[f["name"]]) for f in s["fields"]}
        if t == "array":
            it = s["items"]
            if it in ("int", "long", "float", "double", "boolean", "string"):
                return list(d)
            return [self.decoded_to_json(it, x) for x in d]
        if t == "map":
            return {k: self.decoded_to_json(s["values"], v) for k, v in d.items()}
        return d


class BlockWalker:
    """Minimal independent Avro walker (no fastavro) over one datum.

    fastavro skips the byte size that follows a negative block count without
    checking it, so this verifies those sizes, and counts the blocks."""

    def __init__(self, schema: gen.Schema):
        self.schema = schema
        self.negative_blocks = 0
        self.multi_blocks = 0

    @staticmethod
    def varint(buf: bytes, pos: int) -> tuple[int, int]:
        shift = 0
        n = 0
        while True:
            b = buf[pos]
            pos += 1
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                break
            shift += 7
            if shift > 63:
                raise ValueError("varint too long")
        return (n >> 1) ^ -(n & 1), pos

    def walk(self, schema, buf: bytes, pos: int) -> int:
        s = self.schema.resolve(schema)
        if isinstance(s, list):
            index, pos = self.varint(buf, pos)
            return self.walk(s[index], buf, pos)
        t = s["type"] if isinstance(s, dict) else s
        if t == "null":
            return pos
        if t == "boolean":
            if buf[pos] not in (0, 1):
                raise ValueError(f"bad boolean byte {buf[pos]}")
            return pos + 1
        if t in ("int", "long", "enum"):
            return self.varint(buf, pos)[1]
        if t == "float":
            return pos + 4
        if t == "double":
            return pos + 8
        if t in ("string", "bytes"):
            n, pos = self.varint(buf, pos)
            if t == "string":
                buf[pos : pos + n].decode("utf-8")
            return pos + n
        if t == "fixed":
            return pos + s["size"]
        if t == "record":
            for f in s["fields"]:
                pos = self.walk(f["type"], buf, pos)
            return pos
        if t in ("array", "map"):
            blocks = 0
            while True:
                count, pos = self.varint(buf, pos)
                if count == 0:
                    break
                blocks += 1
                size = None
                if count < 0:
                    self.negative_blocks += 1
                    count = -count
                    size, pos = self.varint(buf, pos)
                start = pos
                for _ in range(count):
                    if t == "map":
                        pos = self.walk("string", buf, pos)
                    pos = self.walk(s["items"] if t == "array" else s["values"], buf, pos)
                if size is not None and pos - start != size:
                    raise ValueError(f"negative-count block says {size} bytes, holds {pos - start}")
            if blocks > 1:
                self.multi_blocks += 1
            return pos
        raise TypeError(f"unsupported schema {s!r}")


def strict_equal(a, b, path="$") -> str | None:
    """None if equal with identical JSON types, else a description of the difference."""
    if type(a) is not type(b):
        return f"{path}: type {type(a).__name__} != {type(b).__name__} ({a!r:.60} vs {b!r:.60})"
    if isinstance(a, dict):
        if set(a) != set(b):
            return f"{path}: keys {sorted(set(a) ^ set(b))[:5]} differ"
        for k in a:
            r = strict_equal(a[k], b[k], f"{path}.{k}")
            if r:
                return r
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            r = strict_equal(x, y, f"{path}[{i}]")
            if r:
                return r
        return None
    if isinstance(a, float):
        # -0.0 == 0.0 in Python; compare the bits
        return None if a.hex() == b.hex() else f"{path}: {a!r} != {b!r}"
    return None if a == b else f"{path}: {a!r:.60} != {b!r:.60}"


def check_json_convention(j, path="$") -> str | None:
    """Floats finite, nothing else odd (NaN/Infinity would already fail json)."""
    if isinstance(j, dict):
        for k, v in j.items():
            r = check_json_convention(v, f"{path}.{k}")
            if r:
                return r
    elif isinstance(j, list):
        for i, v in enumerate(j):
            r = check_json_convention(v, f"{path}[{i}]")
            if r:
                return r
    elif isinstance(j, float) and (j != j or j in (float("inf"), float("-inf"))):
        return f"{path}: non-finite float"
    return None


def reject_constant(name):
    raise ValueError(f"non-JSON constant {name}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("schema", help="path to etp.avpr")
    ap.add_argument("--dir", default=str(gen.DEFAULT_OUT), help=f"golden directory (default {gen.DEFAULT_OUT})")
    args = ap.parse_args(argv)

    schema = gen.Schema(args.schema)
    checker = Checker(schema)
    built = {s.name: s for s in gen.build_samples()}
    d = Path(args.dir)
    bins = sorted(p for p in d.glob("*.bin"))
    failures: list[str] = []
    passed = 0
    n_negative = n_multi = 0
    parts_by_name: dict[str, dict[str, bytes]] = {}

    def fail(name, msg):
        failures.append(f"{name}: {msg}")

    names_on_disk = {p.stem for p in bins} | {p.stem for p in d.glob("*.json")}
    for missing in sorted(set(built) - names_on_disk):
        fail(missing, "generated by generate.py but missing on disk (re-run the generator)")
    for extra in sorted(names_on_disk - set(built)):
        fail(extra, "on disk but not produced by generate.py")

    for p in bins:
        name = p.stem
        jpath = p.with_suffix(".json")
        if not jpath.exists():
            fail(name, "missing .json")
            continue
        data = p.read_bytes()
        doc = json.loads(jpath.read_text(encoding="utf-8"), parse_constant=reject_constant)
        if set(doc) != {"description", "header", "extension", "body", "bodyType", "reencodeIdentical"}:
            fail(name, f"unexpected JSON keys {sorted(doc)}")
            continue
        try:
            fo = io.BytesIO(data)
            h = checker.read(fo, gen.HEADER_TYPE)
            header_end = fo.tell()
            flags = h["messageFlags"]
            if flags & gen.COMPRESSED:
                raise AssertionError("compressed flag set")
            ext = checker.read(fo, gen.EXTENSION_TYPE) if flags & gen.HAS_EXTENSION else None
            ext_end = fo.tell()
            body_type = schema.body_type(h["protocol"], h["messageType"])
            if body_type != doc["bodyType"]:
                raise AssertionError(f"bodyType {doc['bodyType']} but header implies {body_type}")
            body = checker.read(fo, body_type)
            if fo.tell() != len(data):
                raise AssertionError(f"{len(data) - fo.tell()} trailing bytes")
            walker = BlockWalker(schema)
            pos = walker.walk(gen.HEADER_TYPE, data, 0)
            if ext is not None:
                pos = walker.walk(gen.EXTENSION_TYPE, data, pos)
            if pos != ext_end or walker.walk(body_type, data, pos) != len(data):
                raise AssertionError("independent walker disagrees with fastavro on datum boundaries")
            if doc["reencodeIdentical"] == bool(walker.negative_blocks or walker.multi_blocks):
                raise AssertionError(f"reencodeIdentical={doc['reencodeIdentical']} but {walker.multi_blocks} "
                                     f"multi-block and {walker.negative_blocks} negative-count arrays/maps")
            n_negative += walker.negative_blocks
            n_multi += walker.multi_blocks
            parts_by_name[name] = {"header": data[:header_end], "extension": data[header_end:ext_end],
                                   "body": data[ext_end:]}

            decoded = {
                "header": checker.decoded_to_json(gen.HEADER_TYPE, h),
                "extension": None if ext is None else checker.decoded_to_json(gen.EXTENSION_TYPE, ext),
                "body": checker.decoded_to_json(body_type, body),
            }
            for part in ("header", "extension", "body"):
                r = strict_equal(decoded[part], doc[part], f"$.{part}")
                if r:
                    raise AssertionError(f"decoded != .json: {r}")
            r = check_json_convention(doc)
            if r:
                raise AssertionError(r)

            # equals the datum the generator writes
            if name in built:
                enc = gen.encode_sample(schema, built[name])
                if enc.payload != data:
                    raise AssertionError("generate.py now produces different bytes (stale file?)")
                for part in ("header", "extension", "body"):
                    r = strict_equal(enc.doc[part], doc[part], f"$.{part}")
                    if r:
                        raise AssertionError(f"generator datum != .json: {r}")
                if enc.doc["reencodeIdentical"] != doc["reencodeIdentical"]:
                    raise AssertionError("reencodeIdentical differs from generator")

            # re-encode with fastavro (single positive block everywhere)
            re = schema.fa_encode(gen.HEADER_TYPE, schema.from_json(gen.HEADER_TYPE, doc["header"]))
            if doc["extension"] is not None:
                re += schema.fa_encode(gen.EXTENSION_TYPE, schema.from_json(gen.EXTENSION_TYPE, doc["extension"]))
            re += schema.fa_encode(body_type, schema.from_json(body_type, doc["body"]))
            if doc["reencodeIdentical"] and re != data:
                raise AssertionError("re-encoding with fastavro gives different bytes")
            if not doc["reencodeIdentical"]:
                if re == data:
                    raise AssertionError("marked reencodeIdentical=false but re-encodes identically")
                if len(re) >= len(data):
                    raise AssertionError("single-block re-encoding is not shorter than the multi-block one")
            passed += 1
        except Exception as e:  # noqa: BLE001
            fail(name, f"{type(e).__name__}: {e}")

    for name, part, hexs in WIRE_HEX:
        got = parts_by_name.get(name, {}).get(part)
        want = bytes.fromhex(hexs.replace(" ", ""))
        if got != want:
            fail(name, f"{part} is {got.hex(' ') if got is not None else None}, 00-wire.md says {hexs!r}")

    for f in failures:
        print("FAIL", f)
    total = sum(p.stat().st_size for p in bins)
    print(f"fastavro {fastavro.__version__}: checked {len(bins)} samples ({total} bytes), "
          f"{len(WIRE_HEX)} wire-doc hex examples; {n_multi} multi-block and {n_negative} negative-count "
          f"blocks verified")
    print(f"{passed} passed, {len(bins) - passed} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

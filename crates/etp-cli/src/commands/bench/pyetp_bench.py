"""pyetp's view for `etp bench` (embedded in the etp binary, written to a temp file).

Modes (one per invocation, so that Python start-up is never timed):

* ``transfer``: with pyetp's RDDMS client (``rddms_connect``, compression off, the given
  ``max_message_size``), upload a float64 array of ``--array-bytes`` shaped
  ``[rows, 1024]`` with ``upload_array`` (PutUninitializedDataArrays, then one
  PutDataSubarrays per block, all in flight at once, pyetp's own behaviour), then
  download it with ``download_array``; check it came back equal (untimed).
* ``codec``: pyetp's Avro path for one PutDataSubarrays message carrying one block of the
  size pyetp would send at that message size: ``encode_message`` (pydantic dump +
  fastavro) and ``decode_message`` (fastavro + pydantic validation), best of
  ``--repeats``.

Prints one JSON object on stdout.
"""

import argparse
import asyncio
import json
import time
import uuid

import numpy as np

ROW = 1024


def surface(rows: int) -> np.ndarray:
    y, x = np.mgrid[0:rows, 0:ROW].astype(np.float64)
    return 2150.0 + 40.0 * np.sin(x / 97.0) * np.cos(y / 131.0) + 0.003 * x - 0.002 * y


async def transfer(args: argparse.Namespace) -> dict:
    from rddms_io.client import rddms_connect

    rows = max(1, args.array_bytes // (ROW * 8))
    data = surface(rows)
    dataspace = args.dataspace
    epc_uri = (
        f"eml:///dataspace('{dataspace}')/eml20.obj_EpcExternalPartReference({uuid.uuid4()})"
    )
    path = "/RESQML/pyetp-bench/values"
    async with rddms_connect(
        uri=args.url,
        authorization=args.authorization,
        max_message_size=args.message_size,
        use_compression=False,
    ) as client:
        await client.create_dataspace(dataspace, ignore_if_exists=True)
        try:
            start = time.perf_counter()
            await client.upload_array(epc_uri, path, data)
            put = time.perf_counter() - start
            start = time.perf_counter()
            back = await client.download_array(epc_uri, path)
            get = time.perf_counter() - start
            if back.shape != data.shape or not np.array_equal(back, data):
                raise SystemExit("pyetp downloaded different values than it uploaded")
        finally:
            await client.delete_dataspace(dataspace)
    return {"bytes": int(data.nbytes), "put_seconds": put, "get_seconds": get}


def codec(args: argparse.Namespace) -> dict:
    from energistics.avro_handler import decode_message, encode_message
    from energistics.etp.v12.datatypes import MessageHeader
    from energistics.etp.v12.datatypes.data_array_types import (
        DataArray,
        DataArrayIdentifier,
        PutDataSubarraysType,
    )
    from energistics.etp.v12.datatypes.message_header import MessageHeaderFlags
    from energistics.etp.v12.protocol.data_array import PutDataSubarrays

    # pyetp's block budget: message size minus its 4096-byte margin, whole rows.
    rows = max(1, (args.message_size - 4096) // (ROW * 8))
    block = surface(rows)
    dai = DataArrayIdentifier(
        uri=f"eml:///dataspace('bench')/eml20.obj_EpcExternalPartReference({uuid.uuid4()})",
        path_in_resource="/RESQML/pyetp-bench/values",
    )
    body = PutDataSubarrays(
        data_subarrays={
            dai.path_in_resource: PutDataSubarraysType(
                uid=dai,
                data=DataArray.from_numpy_array(block).data,
                starts=[0, 0],
                counts=[rows, ROW],
            )
        }
    )
    header = MessageHeader.from_etp_protocol_body(
        body=body, message_id=2, message_flags=MessageHeaderFlags.FIN
    )
    encode, decode, message = [], [], b""
    for _ in range(args.repeats):
        start = time.perf_counter()
        message = encode_message(header=header, body=body)
        encode.append(time.perf_counter() - start)
        start = time.perf_counter()
        _, decoded = decode_message(message)
        decode.append(time.perf_counter() - start)
    values = next(iter(decoded.data_subarrays.values())).data.item.values
    if len(values) != block.size:
        raise SystemExit("pyetp decoded a different number of values")
    return {
        "message_bytes": len(message),
        "value_bytes": int(block.nbytes),
        "encode_seconds": min(encode),
        "decode_seconds": min(decode),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["transfer", "codec"])
    parser.add_argument("--url", default="")
    parser.add_argument("--authorization", default="")
    parser.add_argument("--dataspace", default="etp-bench/pyetp")
    parser.add_argument("--message-size", type=int, required=True)
    parser.add_argument("--array-bytes", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.mode == "transfer":
        result = asyncio.run(transfer(args))
    else:
        result = codec(args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""pyetp's RDDMS client against DataArray (9): every dtype pyetp transfers, arrays far larger
than one message (pyetp splits them into subarrays), small message sizes, metadata."""

import asyncio

import numpy as np
import pytest
from rddms_io.client import rddms_connect

import models

TIMEOUT = 300


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT))


async def upload_arrays(r, ds, arrays):
    proxy = models.epc()
    await r.upload_model(ds, ml_objects=[proxy])
    epc_uri = proxy.get_etp_data_object_uri(ds)
    tx = await r.start_transaction(ds, read_only=False)
    await asyncio.gather(*[r.upload_array(epc_uri, path, data) for path, data in arrays.items()])
    await r.commit_transaction(tx)
    return epc_uri


@pytest.mark.parametrize("max_message_size", [2**20, 5_000], ids=["1MiB", "5000B"])
def test_every_dtype_round_trips_exactly(server, max_message_size):
    arrays = models.arrays_of_every_dtype()

    async def go():
        async with rddms_connect(server.url, max_message_size=max_message_size) as r:
            ds = f"eml:///dataspace('interop/arrays-{max_message_size}')"
            await r.create_dataspace(ds)
            epc_uri = await upload_arrays(r, ds, arrays)
            for path, expected in arrays.items():
                got = await r.download_array(epc_uri, path)
                assert got.shape == expected.shape, path
                if expected.dtype.kind == "U":
                    assert got.tolist() == expected.tolist(), path
                else:
                    assert got.dtype == expected.dtype, path
                    np.testing.assert_array_equal(got, expected, err_msg=path)
            await r.delete_dataspace_content(ds)
            await r.delete_dataspace(ds)

    run(go())


def test_arrays_far_larger_than_a_message(server):
    rng = np.random.default_rng(7)
    # 24 MiB of doubles and 6 MiB of int32: pyetp splits both into many subarray requests.
    arrays = {
        "/RESQML/big/f64": rng.normal(size=(1536, 2048)),
        "/RESQML/big/i32": rng.integers(-1000, 1000, size=(3, 512, 1024)).astype(np.int32),
    }

    async def go():
        async with rddms_connect(server.url, max_message_size=2**20) as r:
            ds = "eml:///dataspace('interop/big-arrays')"
            await r.create_dataspace(ds)
            epc_uri = await upload_arrays(r, ds, arrays)
            for path, expected in arrays.items():
                got = await r.download_array(epc_uri, path)
                np.testing.assert_array_equal(got, expected, err_msg=path)
            await r.delete_dataspace_content(ds)
            await r.delete_dataspace(ds)

    run(go())


def test_model_with_arrays_and_metadata(server):
    (epc, crs, grid), arrays = models.surface("metadata", shape=(300, 200))

    async def go():
        async with rddms_connect(server.url) as r:
            ds = "eml:///dataspace('interop/array-meta')"
            await r.create_dataspace(ds)
            await r.upload_model(ds, ml_objects=[epc, crs, grid], data_arrays=arrays)
            grid_uri = grid.get_etp_data_object_uri(ds)
            meta = await r.list_array_metadata([grid_uri])
            ((path, m),) = meta[grid_uri].items()
            assert list(m.dimensions) == [300, 200]
            assert m.store_last_write >= m.store_created > 0
            (model,) = await r.download_models([grid_uri], download_arrays=True)
            np.testing.assert_array_equal(model.arrays[path], arrays[path])
            await r.delete_dataspace_content(ds)
            await r.delete_dataspace(ds)

    run(go())

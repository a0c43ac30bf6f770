"""pyetp's transactions against Transaction (18): commit, rollback, partial deletion,
three clients uploading to one dataspace at once."""

import asyncio

import numpy as np
import pytest
from rddms_io.client import rddms_connect

import models

TIMEOUT = 180


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT))


def test_rollback_discards_and_commit_keeps(server):
    (epc, crs, grid), arrays = models.surface("rollback", shape=(10, 10))

    async def go():
        async with rddms_connect(server.url) as r:
            ds = "eml:///dataspace('interop/tx')"
            await r.create_dataspace(ds)
            tx = await r.start_transaction(ds, read_only=False)
            await r.upload_model(ds, ml_objects=[epc, crs, grid], data_arrays=arrays, handle_transaction=False)
            await r.rollback_transaction(tx)
            assert await r.list_objects_under_dataspace(ds) == []

            tx = await r.start_transaction(ds, read_only=False)
            uris = await r.upload_model(ds, ml_objects=[epc, crs, grid], data_arrays=arrays, handle_transaction=False)
            await r.commit_transaction(tx)
            assert sorted(x.uri for x in await r.list_objects_under_dataspace(ds)) == sorted(uris)
            await r.delete_dataspace_content(ds)
            await r.delete_dataspace(ds)

    run(go())


def test_uncommitted_writes_are_invisible_to_other_sessions(server):
    (epc, crs, grid), arrays = models.surface("isolation", shape=(10, 10))

    async def go():
        async with rddms_connect(server.url) as writer, rddms_connect(server.url) as reader:
            ds = "eml:///dataspace('interop/isolation')"
            await writer.create_dataspace(ds)
            tx = await writer.start_transaction(ds, read_only=False)
            uris = await writer.upload_model(ds, ml_objects=[epc, crs, grid], data_arrays=arrays, handle_transaction=False)
            assert await reader.list_objects_under_dataspace(ds) == []
            await writer.commit_transaction(tx)
            assert sorted(x.uri for x in await reader.list_objects_under_dataspace(ds)) == sorted(uris)
            await writer.delete_dataspace_content(ds)
            await writer.delete_dataspace(ds)

    run(go())


def test_partial_deletion(server):
    (epc, crs, grid), arrays = models.surface("partial", shape=(6, 6))

    async def go():
        async with rddms_connect(server.url) as r:
            ds = "eml:///dataspace('interop/partial')"
            await r.create_dataspace(ds)
            await r.upload_model(ds, ml_objects=[epc, crs, grid], data_arrays=arrays)
            grid_uri = grid.get_etp_data_object_uri(ds)
            crs_uri = crs.get_etp_data_object_uri(ds)
            await r.delete_model([grid_uri])
            left = sorted(x.uri for x in await r.list_objects_under_dataspace(ds))
            assert grid_uri not in left and crs_uri in left
            links = await r.list_linked_objects(crs_uri)
            assert links.source_resources == []
            await r.delete_dataspace_content(ds)
            assert await r.list_objects_under_dataspace(ds) == []
            await r.delete_dataspace(ds)

    run(go())


def test_three_clients_upload_to_one_dataspace_concurrently(server):
    surfaces = [models.surface(f"concurrent-{i}", shape=(64, 64), seed=i) for i in range(3)]

    async def upload(objects, arrays):
        async with rddms_connect(server.url) as r:
            return await r.upload_model(ds, ml_objects=list(objects), data_arrays=arrays, debounce=True)

    ds = "eml:///dataspace('interop/concurrent')"

    async def go():
        async with rddms_connect(server.url) as r:
            await r.create_dataspace(ds)
        results = await asyncio.gather(*[upload(objs, arrs) for objs, arrs in surfaces])
        async with rddms_connect(server.url) as r:
            listed = sorted(x.uri for x in await r.list_objects_under_dataspace(ds))
            assert listed == sorted(u for uris in results for u in uris)
            for (objs, arrs) in surfaces:
                grid = objs[2]
                (m,) = await r.download_models([grid.get_etp_data_object_uri(ds)], download_arrays=True)
                (path, expected), = arrs.items()
                np.testing.assert_array_equal(m.arrays[path], expected)
            await r.delete_dataspace_content(ds)
            await r.delete_dataspace(ds)

    run(go())

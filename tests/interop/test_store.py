"""pyetp's RDDMS client against Store (4) and Discovery (3): upload objects built in the
test, download and compare, list a dataspace, list linked objects with edges, delete."""

import asyncio

import numpy as np
import pytest
from pyetp.client import ETPError
from rddms_io.client import rddms_connect

import models

TIMEOUT = 120


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT))


def xml_of(obj) -> bytes:
    from resqml_objects.serializers import serialize_resqml_v201_object

    return serialize_resqml_v201_object(obj)


def test_upload_download_list_linked_delete(server):
    (epc, crs, grid), arrays = models.surface("store interop")

    async def go():
        async with rddms_connect(server.url) as r:
            ds = "eml:///dataspace('interop/store')"
            await r.create_dataspace(ds)
            uris = await r.upload_model(ds, ml_objects=[epc, crs, grid], data_arrays=arrays)
            assert len(uris) == 3

            listed = await r.list_objects_under_dataspace(ds)
            assert sorted(res.uri for res in listed) == sorted(uris)
            by_uri = {res.uri: res for res in listed}
            grid_uri = grid.get_etp_data_object_uri(ds)
            crs_uri = crs.get_etp_data_object_uri(ds)
            epc_uri = epc.get_etp_data_object_uri(ds)
            assert by_uri[grid_uri].name == grid.citation.title
            # The grid references the CRS (references to the EPC proxy are not edges, as on
            # the OSDU server); nothing references the grid.
            assert by_uri[grid_uri].target_count == 1
            assert by_uri[grid_uri].source_count == 0
            assert by_uri[crs_uri].source_count == 1

            only_grids = await r.list_objects_under_dataspace(ds, data_object_types=["resqml20.obj_Grid2dRepresentation"])
            assert [res.uri for res in only_grids] == [grid_uri]

            models_ = await r.download_models([grid_uri], download_arrays=True, download_linked_objects=True)
            assert len(models_) == 1
            m = models_[0]
            assert xml_of(m.obj) == xml_of(grid)
            (path, expected), = arrays.items()
            np.testing.assert_array_equal(m.arrays[path], expected)
            linked = {lm.obj.uuid for lm in m.linked_models}
            assert linked == {crs.uuid}

            links = await r.list_linked_objects(grid_uri)
            assert links.self_resource.uri == grid_uri
            assert [res.uri for res in links.target_resources] == [crs_uri]
            assert links.source_resources == []
            assert [(e.source_uri, e.target_uri) for e in links.target_edges] == [(grid_uri, crs_uri)]
            crs_links = await r.list_linked_objects(crs_uri)
            assert [res.uri for res in crs_links.source_resources] == [grid_uri]
            assert [(e.source_uri, e.target_uri) for e in crs_links.source_edges] == [(grid_uri, crs_uri)]

            meta = await r.list_array_metadata([grid_uri])
            (path_meta,) = meta[grid_uri].values()
            assert list(path_meta.dimensions) == list(expected.shape)

            await r.delete_model([grid_uri])
            left = await r.list_objects_under_dataspace(ds)
            assert sorted(res.uri for res in left) == sorted([crs_uri, epc_uri])
            with pytest.raises(Exception):
                await r.download_models([grid_uri])

            await r.delete_dataspace_content(ds)
            assert await r.list_objects_under_dataspace(ds) == []
            await r.delete_dataspace(ds)

    run(go())


def test_large_object_is_chunked_both_ways_at_small_message_size(server):
    (epc, crs, grid), arrays = models.surface("chunked", shape=(8, 8))
    # A long title and description make the grid far larger than the message size.
    grid.citation.description = "x" * 40_000

    async def go():
        async with rddms_connect(server.url, max_message_size=5_000) as r:
            ds = "eml:///dataspace('interop/chunked')"
            await r.create_dataspace(ds)
            await r.upload_model(ds, ml_objects=[epc, crs, grid], data_arrays=arrays)
            grid_uri = grid.get_etp_data_object_uri(ds)
            (m,) = await r.download_models([grid_uri], download_arrays=True)
            assert xml_of(m.obj) == xml_of(grid)
            (path, expected), = arrays.items()
            np.testing.assert_array_equal(m.arrays[path], expected)
            await r.delete_dataspace_content(ds)
            await r.delete_dataspace(ds)

    run(go())


def test_missing_object_and_bad_uri_surface_as_errors(server):
    async def go():
        async with rddms_connect(server.url) as r:
            ds = "eml:///dataspace('interop/missing')"
            await r.create_dataspace(ds)
            missing = f"{ds}/resqml20.obj_LocalDepth3dCrs(00000000-0000-4000-8000-000000000001)"
            with pytest.raises(Exception):
                await r.download_models([missing])
            # The session is still usable.
            assert await r.list_objects_under_dataspace(ds) == []
            await r.delete_dataspace(ds)

    run(go())


def test_sync_client_upload_and_download(server):
    from rddms_io.sync_client import RDDMSClientSync

    (epc, crs, grid), arrays = models.surface("sync", shape=(5, 6))
    client = RDDMSClientSync(uri=server.url)
    ds = "eml:///dataspace('interop/sync-store')"
    client.create_dataspace(ds)
    uris = client.upload_model(ds, ml_objects=[epc, crs, grid], data_arrays=arrays)
    assert len(uris) == 3
    (m,) = client.download_models([grid.get_etp_data_object_uri(ds)], download_arrays=True)
    (path, expected), = arrays.items()
    np.testing.assert_array_equal(m.arrays[path], expected)
    assert len(client.list_objects_under_dataspace(ds)) == 3
    client.delete_dataspace_content(ds)
    client.delete_dataspace(ds)

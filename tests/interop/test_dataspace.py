"""pyetp's RDDMS client against the Dataspace protocol (async and sync clients)."""

import asyncio

import pytest
from pyetp.client import ETPError
from rddms_io.client import rddms_connect

TIMEOUT = 30


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT))


def test_create_list_delete_dataspaces(server):
    async def go():
        async with rddms_connect(server.url) as r:
            assert await r.list_dataspaces() == []
            await r.create_dataspace("interop/a", legal_tags=["legal-1"], owners=["owner@example.com"], viewers=["v@example.com"])
            await r.create_dataspace("interop/b")
            with pytest.raises(ETPError) as dup:
                await r.create_dataspace("interop/a")
            assert dup.value.code == 5
            await r.create_dataspace("interop/a", ignore_if_exists=True)
            listed = {d.path: d for d in await r.list_dataspaces()}
            assert set(listed) == {"interop/a", "interop/b"}
            a = listed["interop/a"]
            assert a.uri == "eml:///dataspace('interop/a')"
            assert list(a.custom_data["legaltags"].item.values) == ["legal-1"]
            assert list(a.custom_data["owners"].item.values) == ["owner@example.com"]
            assert a.store_created > 0 and a.store_last_write >= a.store_created
            await r.delete_dataspace("interop/a")
            await r.delete_dataspace("interop/b")
            assert await r.list_dataspaces() == []
            with pytest.raises(ETPError) as missing:
                await r.delete_dataspace("interop/a")
            assert missing.value.code == 11

    run(go())


def test_sync_client(server):
    from rddms_io.sync_client import RDDMSClientSync

    client = RDDMSClientSync(uri=server.url)
    client.create_dataspace("interop/sync")
    assert [d.path for d in client.list_dataspaces()] == ["interop/sync"]
    client.delete_dataspace("interop/sync")
    assert client.list_dataspaces() == []

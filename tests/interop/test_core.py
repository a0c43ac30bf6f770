"""Core protocol and transport behaviour, checked with pyetp and with a raw WebSocket."""

import asyncio
import json
import struct
import urllib.error
import urllib.request

import pytest
import websockets
from pyetp.client import etp_connect

TIMEOUT = 30


def run(coro, timeout=TIMEOUT):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_connect_as_context_manager_with_and_without_compression(server):
    async def go(use_compression):
        async with etp_connect(server.url, use_compression=use_compression) as client:
            # pyetp keeps the protocols OpenSession granted; it only offers 3, 4, 9, 18, 24.
            return {p.protocol for p in client.negotiated_protocols}

    assert 24 in run(go(True))
    assert 24 in run(go(False))


def test_connect_as_awaitable(server):
    async def go():
        client = await etp_connect(server.url)
        await client.close()

    run(go())


def test_async_iterator_reconnects_after_the_socket_drops(server):
    async def go():
        sessions = 0
        async for client in etp_connect(server.url):
            sessions += 1
            if sessions == 10:
                await client.close()
                break
            # Drop the socket without CloseSession: the iterator must reconnect.
            await client.ws.close()
        return sessions

    # pyetp waits up to 10 s for the server's close after a client-side drop before it
    # reconnects, so ten rounds take about 100 s of pyetp's own time.
    assert run(go(), timeout=200) == 10


def test_small_message_size_is_negotiated(server):
    async def go():
        async with etp_connect(server.url, max_message_size=5000) as client:
            return client

    run(go())


def test_capabilities_document(server):
    url = f"{server.http}/.well-known/etp-server-capabilities?GetVersion=etp12.energistics.org"
    doc = json.loads(urllib.request.urlopen(url).read())
    assert doc["supportedFormats"] == ["xml"]
    assert "gzip" in doc["supportedCompression"]
    assert doc["endpointCapabilities"]["MaxWebSocketMessagePayloadSize"]["item"]["long"] > 0
    protocols = {p["protocol"] for p in doc["supportedProtocols"]}
    assert 24 in protocols
    versions = json.loads(urllib.request.urlopen(f"{server.http}/.well-known/etp-server-capabilities?GetVersions=true").read())
    assert versions == ["etp12.energistics.org"]
    binary = urllib.request.urlopen(
        f"{server.http}/.well-known/etp-server-capabilities?GetVersion=etp12.energistics.org&$format=binary"
    ).read()
    # Avro binary ServerCapabilities starts with applicationName: length 3 (zig-zag 6), "etp".
    assert binary[:4] == b"\x06etp"


def test_upgrade_without_or_with_wrong_subprotocol_is_refused_with_400(server):
    async def go(subprotocols):
        with pytest.raises(websockets.exceptions.InvalidStatus) as info:
            async with websockets.connect(server.url, subprotocols=subprotocols):
                pass
        return info.value.response.status_code

    assert run(go(None)) == 400
    assert run(go(["fake"])) == 400
    assert run(go(["energistics-tp"])) == 400


def _header(protocol, message_type, correlation_id, message_id, flags):
    out = b""
    for v in (protocol, message_type, correlation_id, message_id, flags):
        z = (v << 1) ^ (v >> 63)
        while True:
            b = z & 0x7F
            z >>= 7
            if z:
                out += bytes([b | 0x80])
            else:
                out += bytes([b])
                break
    return out


def _read_varint(data, at):
    shift = value = 0
    while True:
        b = data[at]
        at += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return (value >> 1) ^ -(value & 1), at


def _decode_header(data):
    values = []
    at = 0
    for _ in range(5):
        v, at = _read_varint(data, at)
        values.append(v)
    return values, at


def _error_code(payload):
    (protocol, message_type, correlation, message_id, flags), at = _decode_header(payload)
    assert message_type == 1000, f"expected ProtocolException, got type {message_type}"
    branch, at = _read_varint(payload, at)
    assert branch == 1, "expected the single `error` form"
    length, at = _read_varint(payload, at)
    at += length
    code, _ = _read_varint(payload, at)
    return protocol, correlation, code


def test_raw_protocol_errors_keep_the_session(server):
    async def go():
        async with websockets.connect(server.url, subprotocols=["etp12.energistics.org"]) as ws:
            # Store GetDataObjects before RequestSession: EINVALID_STATE (8).
            await ws.send(_header(4, 1, 0, 2, 2) + b"\x00\x06xml")
            assert _error_code(await ws.recv()) == (4, 2, 8)
            # Unknown protocol number: EUNSUPPORTED_PROTOCOL (4).
            await ws.send(_header(77, 1, 0, 4, 2))
            assert _error_code(await ws.recv()) == (77, 4, 4)
            # Known protocol, unknown message type: EINVALID_MESSAGETYPE (3).
            await ws.send(_header(0, 99, 0, 6, 2))
            assert _error_code(await ws.recv())[2] == 3
            # Undecodable header: EINVALID_MESSAGE (19), uncorrelated.
            await ws.send(b"\xff\xff\xff")
            assert _error_code(await ws.recv()) == (0, 0, 19)
            # Compressed Core message: ECOMPRESSION_NOTSUPPORTED (13).
            await ws.send(_header(0, 8, 0, 8, 2 | 8) + b"\x1f\x8b")
            assert _error_code(await ws.recv())[2] == 13
            # Still alive: ETP Ping is answered by Pong? Not before the session is open: 8.
            await ws.send(_header(0, 8, 0, 10, 2) + b"\x02")
            assert _error_code(await ws.recv())[2] == 8

    run(go())


def test_client_close_codes_1000_and_1002(server):
    async def go(code):
        ws = await websockets.connect(server.url, subprotocols=["etp12.energistics.org"])
        await ws.close(code=code)
        await ws.wait_closed()

    run(go(1000))
    run(go(1002))
    # The server is still serving afterwards.
    assert urllib.request.urlopen(f"{server.http}/health").status == 200


def test_metrics_and_sessions_endpoints(server):
    async def go():
        async with etp_connect(server.url):
            sessions = json.loads(urllib.request.urlopen(f"{server.http}/sessions").read())
            assert any(s["client_application"] == "pyetp" for s in sessions)

    run(go())
    metrics = urllib.request.urlopen(f"{server.http}/metrics").read().decode()
    assert "etp_sessions_total" in metrics
    assert 'etp_messages_received_total{protocol="0",message_type="1"}' in metrics

"""asyncio transports over real TCP on 127.0.0.1: routing, echo, reconnect, resend."""

from __future__ import annotations

import asyncio
import time

import pytest

from calarb.core.types import Side
from calarb.fix.apps import EchoApplication
from calarb.fix.config import load_settings, with_overrides
from calarb.fix.events import AppMessageReceived
from calarb.fix.messages import encode_new_order_single
from calarb.fix.transport import FixAcceptor, FixInitiator

pytestmark = pytest.mark.network

TOML = """
[default]
ConnectionType = "acceptor"
SocketAcceptPort = 0
SenderCompID = "VENUE"
HeartBtInt = 30

[[session]]
BeginString = "FIX.4.4"
TargetCompID = "ALPHA"
FileStorePath = "{store}"

[[session]]
BeginString = "FIX.4.2"
TargetCompID = "BETA"
"""


def order(n: int) -> bytes:
    return encode_new_order_single(
        b"C%d" % n, b"AAPL", Side.BUY, 100, 1500000, b"20240101-00:00:00"
    )


async def _until(predicate, timeout=10.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def test_acceptor_routes_by_compids_and_initiator_reconnects(tmp_path):
    config = tmp_path / "venue.toml"
    config.write_text(TOML.format(store=tmp_path / "store"))
    settings = load_settings(config)

    async def scenario():
        acceptor = FixAcceptor(settings, lambda _s: EchoApplication())
        port = await acceptor.start("127.0.0.1", 0)
        received = {"ALPHA": [], "BETA": []}

        def recorder(name):
            def on_event(_session, event):
                if isinstance(event, AppMessageReceived):
                    received[name].append(event.message[11])

            return on_event

        clients = {}
        for name, begin in (("ALPHA", "FIX.4.4"), ("BETA", "FIX.4.2")):
            client_settings = with_overrides(
                settings[0], begin_string=begin, sender_comp_id=name, target_comp_id="VENUE",
                connection_type="initiator", port=port, file_store_path=None,
                reconnect_interval_s=0.05,
            )  # fmt: skip
            clients[name] = FixInitiator(client_settings, on_event=recorder(name))
            clients[name].start()
        for client in clients.values():
            await client.wait_logged_on()
        clients["ALPHA"].send_body(b"D", order(1))
        clients["BETA"].send_body(b"D", order(2))
        await _until(lambda: received["ALPHA"] == [b"C1"] and received["BETA"] == [b"C2"])

        # drop ALPHA's connection, send while down, reconnect: the gap is resent
        alpha = clients["ALPHA"]
        alpha.drop_connection()
        await _until(lambda: not alpha.session.connected)
        alpha.session.send_body(b"D", order(3), time.monotonic_ns(), time.time_ns())  # not sent
        await alpha.wait_logged_on()
        await _until(lambda: received["ALPHA"] == [b"C1", b"C3"])
        assert alpha.connections >= 2  # a retry may race the venue noticing the drop
        venue = acceptor.sessions[("FIX.4.4", "VENUE", "ALPHA")]
        assert venue.next_target_seq == alpha.session.next_sender_seq

        for client in clients.values():
            await client.stop()
        await acceptor.stop()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_initiator_backs_off_while_nobody_listens():
    async def scenario():
        settings = load_settings_stub()
        client = FixInitiator(settings)
        client.start()
        await asyncio.sleep(0.5)
        assert client.connections == 0
        await client.stop()

    asyncio.run(scenario())


def load_settings_stub():
    from calarb.fix.config import SessionSettings

    return SessionSettings(
        "FIX.4.4",
        "A",
        "B",
        "initiator",
        port=1,
        reconnect_interval_s=0.05,
        reconnect_max_interval_s=0.2,
    )


def test_tls_session(tmp_path):
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl command not available to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    from calarb.fix.config import SessionSettings

    venue = SessionSettings(
        "FIX.4.4", "VENUE", "ALPHA", "acceptor", tls_certificate=str(cert), tls_private_key=str(key)
    )
    client = SessionSettings(
        "FIX.4.4", "ALPHA", "VENUE", "initiator", host="127.0.0.1", tls_ca_file=str(cert)
    )

    async def scenario():
        acceptor = FixAcceptor([venue], lambda _s: EchoApplication())
        port = await acceptor.start("127.0.0.1", 0)
        echoes = []
        initiator = FixInitiator(
            with_overrides(client, port=port),
            on_event=lambda _s, e: echoes.append(e.message[11])
            if isinstance(e, AppMessageReceived) else None,
        )  # fmt: skip
        initiator.start()
        await initiator.wait_logged_on()
        initiator.send_body(b"D", order(7))
        await _until(lambda: echoes == [b"C7"])
        connection = initiator.connection
        assert connection.transport.get_extra_info("ssl_object") is not None
        await initiator.stop()
        await acceptor.stop()

    asyncio.run(asyncio.wait_for(scenario(), 30))

"""The production broker configuration on a real mosquitto: TLS only, one credential per member,
and a member may publish only under its own id (partials, refund and action partials, proposals,
heartbeats), and reads every member's."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from pathlib import Path

import aiomqtt
import pytest

from harness import devnet
from relayer.provisioning import broker
from tests.conftest import port_open

pytestmark = pytest.mark.integration


async def test_members_publish_only_under_their_own_id_over_tls(
    processes: devnet.Processes, tmp_path: Path
) -> None:
    port = devnet.free_port()
    files = broker.prepare(tmp_path / "broker", "acl-test", [1, 2], port)
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    processes.start("mosquitto", [binary, "-c", str(files.conf)], tmp_path)
    devnet.wait_until(lambda: port_open(port), 15, "mosquitto TLS listener")
    tls = aiomqtt.TLSParameters(ca_certs=str(files.ca))

    def login(user: str) -> dict[str, str]:
        return {"username": user, "password": files.passwords[user].read_text().strip()}

    got: list[str] = []
    async with aiomqtt.Client("127.0.0.1", port, tls_params=tls, timeout=20, **login("member-2")) as reader:
        await reader.subscribe("qiao/v1/acl-test/#", qos=1)
        async with aiomqtt.Client(
            "127.0.0.1", port, tls_params=tls, timeout=20, **login("member-1")
        ) as writer:
            for topic in (
                "partial/1",
                "heartbeat/1",
                "refund/1",
                "action/1",
                "proposal/1",
                "partial/2",
                "heartbeat/2",
                "refund/2",
                "action/2",
                "proposal/2",
                "partial/3",
                "refund/3",
                "action/3",
                "proposal/3",
                "action",
                "proposal/1/x",
            ):
                await writer.publish(f"qiao/v1/acl-test/{topic}", b"x", qos=1)

        async def collect() -> None:
            async for message in reader.messages:
                got.append(message.topic.value)

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(collect(), 3)
    assert sorted(got) == [
        "qiao/v1/acl-test/action/1",
        "qiao/v1/acl-test/heartbeat/1",
        "qiao/v1/acl-test/partial/1",
        "qiao/v1/acl-test/proposal/1",
        "qiao/v1/acl-test/refund/1",
    ]

    # anonymous and wrong-password clients are refused, and so is plaintext MQTT on the TLS port
    for kwargs in ({}, {"username": "member-1", "password": "wrong"}):
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client("127.0.0.1", port, tls_params=tls, timeout=20, **kwargs):
                pass
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client("127.0.0.1", port, timeout=5, **login("member-1")):
            pass

"""The production broker configuration on a real mosquitto: TLS only, one credential per member,
and a member may publish only under its own id."""

from __future__ import annotations

import contextlib
import shutil
import ssl
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from relayer import broker, devnet
from tests.conftest import port_open

pytestmark = pytest.mark.integration


def _client(files: broker.BrokerFiles, user: str | None) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{user}-{time.monotonic_ns()}")
    c.tls_set(ca_certs=str(files.ca), cert_reqs=ssl.CERT_REQUIRED)
    if user is not None:
        c.username_pw_set(user, files.passwords[user].read_text().strip())
    return c


def test_members_publish_only_under_their_own_id_over_tls(
    processes: devnet.Processes, tmp_path: Path
) -> None:
    port = devnet.free_port()
    files = broker.prepare(tmp_path / "broker", "acl-test", [1, 2], port)
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    processes.start("mosquitto", [binary, "-c", str(files.conf)], tmp_path)
    devnet.wait_until(lambda: port_open(port), 15, "mosquitto TLS listener")

    got: list[str] = []
    subscribed = threading.Event()
    reader = _client(files, "member-2")
    reader.on_message = lambda c, u, m: got.append(m.topic)
    reader.on_subscribe = lambda *a: subscribed.set()
    reader.on_connect = lambda c, *a: c.subscribe("qiao/v1/acl-test/#", qos=1)
    reader.connect("127.0.0.1", port)
    reader.loop_start()
    try:
        assert subscribed.wait(10)
        writer = _client(files, "member-1")
        writer.connect("127.0.0.1", port)
        writer.loop_start()
        for topic in ("partial/1", "heartbeat/1", "partial/2", "heartbeat/2", "partial/3"):
            writer.publish(f"qiao/v1/acl-test/{topic}", b"x", qos=1).wait_for_publish(5)
        devnet.wait_until(lambda: len(got) >= 2, 10, "own-id messages delivered")
        time.sleep(1.0)
        writer.loop_stop()
        writer.disconnect()
        assert sorted(got) == ["qiao/v1/acl-test/heartbeat/1", "qiao/v1/acl-test/partial/1"]

        # anonymous and wrong-password clients are refused
        for user, password in ((None, None), ("member-1", "wrong")):
            c = _client(files, None)
            if user is not None:
                c.username_pw_set(user, password)
            codes: list[object] = []
            c.on_connect = lambda cl, u, f, rc, p=None, codes=codes: codes.append(rc)
            c.connect("127.0.0.1", port)
            c.loop_start()
            devnet.wait_until(lambda codes=codes: bool(codes), 10, "connack")
            c.loop_stop()
            assert str(codes[0]) != "Success", codes
        # plaintext MQTT on the TLS port does not get a session
        plain = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="plain")
        plain.username_pw_set("member-1", files.passwords["member-1"].read_text().strip())
        with contextlib.suppress(OSError):
            plain.connect("127.0.0.1", port)
            for _ in range(10):
                plain.loop(timeout=0.2)
        assert not plain.is_connected()
    finally:
        reader.loop_stop()
        reader.disconnect()

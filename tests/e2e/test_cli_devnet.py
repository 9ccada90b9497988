"""Every operator verb against a running devnet, in table and --json form; health endpoints; a real
Prometheus scraping a member and the alert rules loaded into it."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import ssl
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from web3 import HTTPProvider, Web3

from committee.bls import get_backend
from committee.keyfile import load_key_file
from committee.threshold import partial_sign
from harness import devnet
from relayer.config import load_config
from relayer.core.messages import PartialMessage, partial_topic
from relayer.core.types import BatchId, ChainId, Nonce, Route
from tests.support import member_cli

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
C, E = devnet.CONSORTIUM_CHAIN_ID, devnet.ETHEREUM_CHAIN_ID


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[devnet.Devnet]:
    run_dir = tmp_path_factory.mktemp("cli")
    with devnet.devnet(run_dir / "n", block_time=0.5, metrics=True) as running:
        devnet.round_trip(running, locks=3, burns=2, timeout=150, say=lambda s: None)
        yield running


def cli(net: devnet.Devnet, *argv: str, member: int = 1, ok: bool = True) -> subprocess.CompletedProcess[str]:
    out = member_cli.cli(net, *argv, member=member)  # `--config` after the verb (and sub-verb)
    if ok:
        assert out.returncode == 0, f"{argv}: rc {out.returncode}\n{out.stdout}\n{out.stderr}"
    return out


def both(net: devnet.Devnet, *argv: str, member: int = 1) -> tuple[str, Any]:
    """The verb's table output and its parsed --json output."""
    table = cli(net, *argv, member=member).stdout
    data = json.loads(cli(net, *argv, "--json", member=member).stdout)
    return table, data


def lock_and_wait_for_mint(net: devnet.Devnet, amount: int) -> None:
    dep = net.deployment
    wc, we = Web3(HTTPProvider(dep.consortium_url)), Web3(HTTPProvider(dep.ethereum_url))
    admin, alice, bob = devnet.dev_account(0), devnet.dev_account(8), devnet.dev_account(9)
    vault = wc.eth.contract(address=dep.vault.address, abi=dep.vault.abi)
    asset = wc.eth.contract(address=dep.asset.address, abi=dep.asset.abi)
    wrapped = we.eth.contract(address=dep.wrapped.address, abi=dep.wrapped.abi)
    before = wrapped.functions.balanceOf(bob.address).call()
    devnet.send(wc, admin, asset.functions.mint(alice.address, amount))
    devnet.send(wc, alice, asset.functions.approve(vault.address, amount))
    devnet.send(wc, alice, vault.functions.lock(asset.address, E, bob.address, amount))
    devnet.wait_until(
        lambda: wrapped.functions.balanceOf(bob.address).call() == before + amount, 90, "the mint on Ethereum"
    )


def http(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_admin_socket_is_owner_only(net: devnet.Devnet) -> None:
    sock = net.run_dir / "node-1" / "data" / "admin.sock"
    mode = sock.stat().st_mode
    assert stat.S_ISSOCK(mode)
    assert mode & 0o777 == 0o600


def test_status_shows_heads_lag_pending_and_members_online(net: devnet.Devnet) -> None:
    devnet.wait_until(lambda: cli(net, "status", "--json").stdout.count('"online": 4') == 1, 30, "4 online")

    def settled() -> bool:  # a batch another relayer executed is recorded by this one's turn at the latest
        data = json.loads(cli(net, "status", "--json").stdout)
        return all(r["pending"] == 0 for r in data["routes"])

    devnet.wait_until(settled, 30, "member 1 to record every batch of the round trip executed")
    table, data = both(net, "status")
    assert "ROUTE" in table
    assert "LAG_BLOCKS" in table
    assert "OLDEST_PENDING_SECONDS" in table
    assert f"{C}->{E}" in table
    assert "t = 3" in table
    assert data["threshold"] == 3
    assert data["members"] == 4
    assert data["margin"] == 1
    assert data["broker_connected"] is True
    assert all(data["rpc_ok"].values())
    routes = {r["route"]: r for r in data["routes"]}
    assert set(routes) == {f"{C}->{E}", f"{E}->{C}"}
    for r in routes.values():
        assert r["src_head"] > 0
        assert r["lag_blocks"] is not None
        assert r["pending"] == 0


def test_transfers_list_and_show(net: devnet.Devnet) -> None:
    table, rows = both(net, "transfers", "list")
    assert "NONCE" in table
    assert "executed" in table
    assert {(r["route"], r["nonce"]) for r in rows} >= {(f"{C}->{E}", 1), (f"{C}->{E}", 3), (f"{E}->{C}", 2)}
    assert all(r["state"] == "executed" for r in rows)
    _, executed = both(net, "transfers", "list", "--state", "executed", "--limit", "2")
    assert len(executed) == 2
    table, shown = both(net, "transfers", "show", str(C), str(E), "2")
    assert "executed" in table
    # aggregation goes by turn (relayer.pipeline.aggregator): "aggregated" is in the history of the
    # member that combined the batch (the first in its turns), not necessarily member 1's
    shows = [cli(net, "transfers", "show", str(C), str(E), "2", member=m).stdout for m in sorted(net.nodes)]
    assert any("aggregated" in s for s in shows)
    assert next(h["state"] for h in shown["history"]) == "final"
    assert shown["history"][-1]["state"] == "executed"
    assert shown["source_tx"].startswith("0x")
    missing = cli(net, "transfers", "show", str(C), str(E), "999", ok=False)
    assert missing.returncode != 0
    assert "no transfer" in missing.stderr


def test_keys_show_never_prints_the_secret(net: devnet.Devnet) -> None:
    table, keys = both(net, "keys", "show")
    assert keys["member"] == 1
    assert keys["threshold"] == 3
    assert keys["members"] == 4
    assert keys["signer"] is True
    assert keys["key_epoch"] == 1
    assert keys["key_epochs_held"] == {"1": {"group_public_key": keys["group_public_key"], "signer": True}}
    assert set(keys["signing_epoch"].values()) == {1}  # every endpoint, signed for under epoch 1
    assert keys["endpoint_epoch"] == keys["signing_epoch"]
    assert keys["group_public_key"].startswith("0x")
    assert len(keys["group_public_key"]) == 2 + 192
    assert keys["relayer_account"] == devnet.dev_account(1).address
    secret = json.loads(Path(keys["key_file"]).read_text())
    for value in secret.values():
        if isinstance(value, str) and len(value) >= 32 and value not in table:
            continue
        if isinstance(value, str) and len(value) >= 32:
            assert value in (keys["group_public_key"], keys["member_public_share"]), "secret leaked"
    assert "group_public_key" in table


def test_config_check_ok_and_every_error_listed(net: devnet.Devnet, tmp_path: Path) -> None:
    table, data = both(net, "config", "check")
    assert "OK" in table
    assert data["ok"] is True
    assert data["admin_socket"].endswith("admin.sock")
    bad = tmp_path / "bad.toml"
    bad.write_text('[node]\nmember_index = 0\n[mqtt]\nport = 0\n[chains.x]\nrpc = "ftp://x"\n')
    for flag in ([], ["--json"]):
        out = subprocess.run(
            [sys.executable, "-m", "relayer.cli", "config", "check", "--config", str(bad), *flag],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
        )
        assert out.returncode == 2
        text = out.stdout + out.stderr
        for path in (
            "node.member_index",
            "node.data_dir",
            "mqtt.port",
            "mqtt.network",
            "chains.x.rpc",
            "routes",
        ):
            assert path in text, f"{path} missing from {text}"
    assert json.loads(out.stdout)["ok"] is False


def test_reconcile_reports_supply_and_no_gaps(net: devnet.Devnet) -> None:
    table, data = both(net, "reconcile")
    assert "supply check" in table
    assert "OK" in table
    assert data["ok"] is True
    (pair,) = data["supply"]
    assert pair["locked"] == pair["wrapped"] == str(3 * devnet.UNIT)  # 1+2+3 locked, 1+2 burned
    routes = {r["route"]: r for r in data["routes"]}
    assert routes[f"{C}->{E}"]["chain_last_nonce"] == 3
    assert routes[f"{C}->{E}"]["missing_nonces"] == []
    assert routes[f"{E}->{C}"]["stored_last_nonce"] == 2


def test_reobserve_a_source_transaction(net: devnet.Devnet) -> None:
    _, shown = both(net, "transfers", "show", str(C), str(E), "1")
    table, data = both(net, "reobserve", shown["source_tx"])
    assert "consortium" in table
    assert f"{C}->{E}" in table
    assert data["chain"] == "consortium"
    assert data["new"] == 0
    assert data["transfers"] == [{"route": f"{C}->{E}", "nonce": 1}]
    bogus = cli(net, "reobserve", "0x" + "ab" * 32, ok=False)
    assert bogus.returncode == 1
    assert "not found" in bogus.stderr


def test_pause_stops_this_member_signing_and_resume_restarts_it(net: devnet.Devnet) -> None:
    table, data = both(net, "pause")  # the second call (--json) is idempotent
    assert "paused" in table
    assert set(data["paused"]) == {f"{C}->{E}", f"{E}->{C}"}
    assert data["scope"] == "local"
    assert data["on_chain"] == []
    assert net.metric(1, "qiao_route_paused", {"src": str(C), "dst": str(E)}) == 1.0
    status = json.loads(cli(net, "status", "--json").stdout)
    assert all(r["paused"] for r in status["routes"])
    # a new lock: members 2-4 (t = 3) still bridge it; member 1 signs nothing while paused
    signed_before = net.metric(1, "qiao_partials_signed_total") or 0.0
    lock_and_wait_for_mint(net, devnet.UNIT)
    assert (net.metric(1, "qiao_partials_signed_total") or 0.0) == signed_before
    table, data = both(net, "resume", "--src", str(C), "--dst", str(E))
    assert data["paused"] == [f"{E}->{C}"]
    _, data = both(net, "resume")
    assert data["paused"] == []
    assert net.metric(1, "qiao_route_paused", {"src": str(C), "dst": str(E)}) == 0.0


def test_retry_reports_what_it_did(net: devnet.Devnet) -> None:
    table, data = both(net, "retry", str(C), str(E), "1")
    assert "nothing to retry" in table
    assert data["route"] == f"{C}->{E}"
    assert data["nonce"] == 1
    assert data["actions"]
    unknown = cli(net, "retry", str(C), str(E), "999", ok=False)
    assert unknown.returncode == 1
    assert "reobserve" in unknown.stderr


def _lock(net: devnet.Devnet, amount: int) -> int:
    """Lock on C without waiting for the mint; the transfer's nonce."""
    dep = net.deployment
    wc = Web3(HTTPProvider(dep.consortium_url))
    admin, alice, bob = devnet.dev_account(0), devnet.dev_account(8), devnet.dev_account(9)
    vault = wc.eth.contract(address=dep.vault.address, abi=dep.vault.abi)
    asset = wc.eth.contract(address=dep.asset.address, abi=dep.asset.abi)
    devnet.send(wc, admin, asset.functions.mint(alice.address, amount))
    devnet.send(wc, alice, asset.functions.approve(vault.address, amount))
    nonce = int(vault.functions.nextNonce(E).call())
    devnet.send(wc, alice, vault.functions.lock(asset.address, E, bob.address, amount))
    return nonce


def _forge_partial_as(net: devnet.Devnet, member: int, liar: int, bid: BatchId, message: bytes) -> None:
    """Publish, with `member`'s own broker credentials, a partial on the batch's exact message made
    with `liar`'s key share: well formed, on the right batch, but not `member`'s signature."""
    cfg = load_config(net.configs[member])
    assert cfg.mqtt.password_file is not None
    assert cfg.mqtt.tls_ca_file is not None
    liar_cfg = load_config(net.configs[liar])
    assert liar_cfg.committee.key_file is not None
    share = load_key_file(liar_cfg.committee.key_file)
    forged = partial_sign(share, message, get_backend("arkworks"))
    payload = PartialMessage(member, bid, 1, b"\x00" * 32, message, forged).to_payload()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.tls_set(ca_certs=str(cfg.mqtt.tls_ca_file), cert_reqs=ssl.CERT_REQUIRED)
    client.username_pw_set(cfg.mqtt.username, cfg.mqtt.password_file.read_text().strip())
    client.connect(cfg.mqtt.host, cfg.mqtt.port, keepalive=30)
    client.loop_start()
    try:
        client.publish(partial_topic(cfg.mqtt.network, member), payload, qos=1).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()


def test_paused_members_do_not_count_and_the_batch_view_says_who_sent_a_valid_partial(
    net: devnet.Devnet,
) -> None:
    """The 3 a.m. questions on real member processes: members 2 and 3 pause (local), member 4 is
    down. Member 1 must not count 2 and 3 as online or in the margin (their heartbeats say paused),
    and its view of the stuck batch lists per member: 1 valid (when), 2 and 3 none (paused),
    4 invalid (why: a forged partial sent under its name) and then, once 2 and 3 resume, valid."""
    for member in (2, 3):
        cli(net, "pause", member=member)
    net.nodes[4].stop()

    def status() -> dict[str, Any]:
        result: dict[str, Any] = json.loads(cli(net, "status", "--json").stdout)
        return result

    devnet.wait_until(
        lambda: status()["members_online"] == [1] and sorted(status()["members_paused"]) == ["2", "3"],
        40,
        "member 1 to see 2 and 3 paused and 4 gone",
    )
    seen = status()
    assert seen["online"] == 1
    assert seen["margin"] == 1 - 3
    assert set(seen["members_paused"]["2"]) == {f"{C}->{E}", f"{E}->{C}"}
    assert "paused" in cli(net, "status").stdout.splitlines()[0]
    devnet.wait_until(lambda: net.metric(1, "qiao_committee_margin_members") == -2.0, 10, "margin metric")
    assert net.metric(1, "qiao_committee_members_online") == 1.0
    assert net.metric(1, "qiao_committee_members_paused") == 2.0
    code, body = http(net.metrics_ports[1], "/readyz")
    assert code == 503
    assert json.loads(body)["checks"]["signing_margin"] is False

    nonce = _lock(net, 7 * devnet.UNIT)

    def shown() -> dict[str, Any]:
        result: dict[str, Any] = json.loads(
            cli(net, "transfers", "show", str(C), str(E), str(nonce), "--json").stdout
        )
        return result

    devnet.wait_until(
        lambda: shown()["state"] == "signed" and shown().get("batch") is not None, 60, "member 1 signs alone"
    )
    batch = shown()["batch"]
    by_member = {p["member"]: p for p in batch["partials"]}
    assert sorted(by_member) == [1, 2, 3, 4]
    assert by_member[1]["partial"] == "valid"
    assert by_member[1]["at"]
    assert (by_member[2]["partial"], by_member[2]["heartbeat"]) == ("none", "paused")
    assert (by_member[3]["partial"], by_member[3]["heartbeat"]) == ("none", "paused")
    assert (by_member[4]["partial"], by_member[4]["heartbeat"]) == ("none", "offline")
    assert batch["state"] == "pending"
    assert (batch["valid"], batch["threshold"]) == (1, 3)

    first, last = batch["first_nonce"], batch["last_nonce"]
    with sqlite3.connect(f"file:{net.run_dir / 'node-1' / 'data' / 'qiao.sqlite3'}?mode=ro", uri=True) as db:
        (message,) = db.execute(
            "SELECT message FROM batches WHERE src_chain_id=? AND dst_chain_id=? AND first_nonce=?",
            (C, E, first),
        ).fetchone()
    bid = BatchId(Route(ChainId(C), ChainId(E)), Nonce(first), Nonce(last))
    _forge_partial_as(net, 4, 3, bid, bytes(message))

    def batch_view() -> dict[str, Any]:
        out = cli(net, "batches", "show", str(C), str(E), str(first), "--json")
        result: dict[str, Any] = json.loads(out.stdout)
        return result

    devnet.wait_until(
        lambda: {p["member"]: p for p in batch_view()["partials"]}[4]["partial"] == "invalid",
        30,
        "member 1 to report member 4's forged partial invalid",
    )
    four = {p["member"]: p for p in batch_view()["partials"]}[4]
    assert "public share" in four["why"], four
    assert four["at"]
    table = cli(net, "batches", "show", str(C), str(E), str(first)).stdout
    assert "invalid" in table
    assert "paused" in table
    assert "valid" in table

    for member in (2, 3):
        cli(net, "resume", member=member)
    net.restart(4)
    devnet.wait_until(lambda: shown()["state"] == "executed", 90, "the batch executes once 2 and 3 resume")
    batch = shown()["batch"]
    assert set(batch["combined"]) <= {1, 2, 3, 4}
    assert len(batch["combined"]) == 3
    devnet.wait_until(lambda: status()["members_online"] == [1, 2, 3, 4], 40, "all four back online")
    assert status()["members_paused"] == {}
    assert status()["margin"] == 1


def test_health_endpoints_and_metrics(net: devnet.Devnet) -> None:
    port = net.metrics_ports[1]
    assert http(port, "/livez")[0] == 200
    code, body = http(port, "/readyz")
    assert code == 200, body
    checks = json.loads(body)["checks"]
    assert checks == {
        "rpc:consortium": True,
        "rpc:ethereum": True,
        "broker": True,
        "store": True,
        "signing_margin": True,
        "loops": True,
    }
    code, text = http(port, "/metrics")
    for name in (
        "qiao_chain_head_block",
        "qiao_chain_lag_blocks",
        "qiao_rpc_latency_seconds_bucket",
        "qiao_committee_margin_members",
        "qiao_supply_check_ok",
        "qiao_route_pending_transfers",
        "qiao_dkg_key_epoch",
        "qiao_aggregation_latency_seconds_count",
        "qiao_ready",
    ):
        assert name in text, name
    assert http(port, "/nope")[0] == 404


def _prom_query(port: int, expr: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as r:
        data = json.loads(r.read())
    assert data["status"] == "success"
    result: list[dict[str, Any]] = data["data"]["result"]
    return result


def test_a_real_prometheus_scrapes_the_node_and_loads_the_alert_rules(
    net: devnet.Devnet, tmp_path: Path
) -> None:
    prom_port = devnet.free_port()
    rules = ROOT / "deploy" / "prometheus" / "qiao-alerts.yml"
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files:\n  - {rules}\n"
        "scrape_configs:\n  - job_name: qiao\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{net.metrics_ports[1]}', '127.0.0.1:{net.metrics_ports[2]}']\n"
    )
    procs = devnet.Processes()
    try:
        procs.start(
            "prometheus",
            [
                shutil.which("prometheus") or "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            tmp_path,
        )

        def scraped() -> bool:
            up = _prom_query(prom_port, 'up{job="qiao"}')
            return len(up) == 2 and all(s["value"][1] == "1" for s in up)

        devnet.wait_until(scraped, 60, "prometheus scraping two members")
        threshold = _prom_query(prom_port, "qiao_committee_threshold")
        assert {s["value"][1] for s in threshold} == {"3"}
        heads = _prom_query(prom_port, "qiao_chain_head_block")
        assert {s["metric"]["chain"] for s in heads} == {"consortium", "ethereum"}
        devnet.wait_until(
            lambda: bool(_prom_query(prom_port, "qiao_supply_check_ok == 1")),
            40,
            "supply check in prometheus",
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{prom_port}/api/v1/rules", timeout=5) as r:
            groups = json.loads(r.read())["data"]["groups"]
        names = {rule["name"] for g in groups for rule in g["rules"]}
        assert {"QiaoChainStalled", "QiaoCommitteeMarginZero", "QiaoSupplyCheckFailing"} <= names
        assert all(rule["health"] in ("ok", "unknown") for g in groups for rule in g["rules"])
        # nothing is wrong on this devnet, so no alert fires
        time.sleep(2)
        firing = [a for a in _prom_query(prom_port, 'ALERTS{alertstate="firing"}')]
        assert firing == [], firing
    finally:
        procs.stop_all()


def test_pause_on_chain_from_the_guardian_and_resume_is_refused_on_chain(
    net: devnet.Devnet, tmp_path: Path
) -> None:
    """Pauses the endpoints for good (an on-chain resume needs a committee signature): runs late."""
    key = tmp_path / "guardian.key"
    key.write_text("0x" + bytes(devnet.dev_account(10).key).hex())
    key.chmod(0o600)
    table = cli(net, "pause", "--on-chain", "--guardian-key-file", str(key)).stdout
    assert "on-chain consortium: paused (tx 0x" in table
    assert "on-chain ethereum: paused (tx 0x" in table
    data = json.loads(cli(net, "pause", "--on-chain", "--guardian-key-file", str(key), "--json").stdout)
    assert [c["result"] for c in data["on_chain"]] == ["already paused", "already paused"]
    dep = net.deployment
    wc = Web3(HTTPProvider(dep.consortium_url))
    assert wc.eth.contract(address=dep.vault.address, abi=dep.vault.abi).functions.paused().call() is True
    devnet.wait_until(
        lambda: (
            json.loads(cli(net, "status", "--json").stdout)["endpoint_paused"]
            == {"consortium": True, "ethereum": True}
        ),
        40,
        "status shows the endpoints paused",
    )
    refused = cli(net, "resume", "--on-chain", ok=False)
    assert refused.returncode == 1
    assert "committee" in refused.stderr
    wrong = tmp_path / "wrong.key"
    wrong.write_text("0x" + bytes(devnet.dev_account(7).key).hex())
    wrong.chmod(0o644)
    open_key = cli(net, "pause", "--on-chain", "--guardian-key-file", str(wrong), ok=False)
    assert "chmod 600" in open_key.stderr
    cli(net, "resume")


def test_readiness_turns_false_when_the_margin_the_broker_and_an_rpc_are_lost(net: devnet.Devnet) -> None:
    """Runs last: it stops members, the broker and a chain."""
    port = net.metrics_ports[1]
    net.nodes[3].stop()
    net.nodes[4].stop()  # 2 of 4 online < t = 3; their last wills say offline

    def not_ready(check: str) -> bool:
        code, body = http(port, "/readyz")
        return code == 503 and json.loads(body)["checks"][check] is False

    devnet.wait_until(lambda: not_ready("signing_margin"), 30, "readiness false on a lost margin")
    assert http(port, "/livez")[0] == 200
    devnet.wait_until(lambda: net.metric(1, "qiao_committee_margin_members") == -1.0, 10, "margin metric -1")
    status = json.loads(cli(net, "status", "--json").stdout)
    assert status["margin"] == -1
    assert status["members_online"] == [1, 2]
    broker = next(p for p in net.procs.items if p.name == "mosquitto")
    broker.stop()
    devnet.wait_until(lambda: not_ready("broker"), 30, "readiness false on a lost broker")
    assert http(port, "/livez")[0] == 200
    chain = next(p for p in net.procs.items if p.name == "anvil-ethereum")
    chain.stop()
    devnet.wait_until(lambda: not_ready("rpc:ethereum"), 30, "readiness false on a lost RPC")
    assert net.metric(1, "qiao_chain_rpc_up", {"chain": "ethereum"}) == 0.0
    assert http(port, "/livez")[0] == 200


def test_an_unreachable_rpc_at_start_up_stops_the_daemon_with_a_clear_error(
    net: devnet.Devnet, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{devnet.free_port()}"
    env = {
        **os.environ,
        "QIAO_METRICS__PORT": str(devnet.free_port()),
        "QIAO_CHAINS__ETHEREUM__RPC": dead,
        "QIAO_NODE__DATA_DIR": str(tmp_path / "data"),
    }
    out = subprocess.run(
        [sys.executable, "-m", "relayer.cli", "run", "--config", str(net.configs[1])],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=ROOT,
        env=env,
    )
    assert out.returncode == 1, out.stderr
    assert "error: chain ethereum" in out.stderr
    assert "failed on every endpoint" in out.stderr
    assert "Traceback" not in out.stderr

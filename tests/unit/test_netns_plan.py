"""The namespace topology's plan (harness/netns.py: addresses, which links a partition takes down)
and the delay proxy's delay line (harness/delay_proxy.py), without a namespace or a socket."""

from __future__ import annotations

import asyncio

import pytest

from harness import delay_proxy, netns


@pytest.mark.parametrize(
    ("link", "ends"),
    [
        (1, ("10.77.1.1", "10.77.1.2")),
        (16, ("10.77.16.1", "10.77.16.2")),
        (199, ("10.77.199.1", "10.77.199.2")),
    ],
)
def test_each_link_has_its_own_slash_30(link: int, ends: tuple[str, str]) -> None:
    assert netns.link_addresses(link) == ends


@pytest.mark.parametrize("link", [0, 200, -1])
def test_a_link_number_outside_the_plan_is_refused(link: int) -> None:
    with pytest.raises(ValueError, match="links 1..199"):
        netns.link_addresses(link)


def test_management_addresses_never_overlap_the_links_or_each_other() -> None:
    seen = set()
    for index in range(1, netns.MAX_NAMESPACES + 1):
        root, ns = netns.mgmt_addresses(200, index)
        assert root.startswith("10.77.200.")
        assert ns.startswith("10.77.200.")
        seen |= {root, ns}
    assert len(seen) == 2 * netns.MAX_NAMESPACES
    links = {a for link in range(1, netns.MAX_LINKS + 1) for a in netns.link_addresses(link)}
    assert not seen & links
    with pytest.raises(ValueError, match="10.77.200..249"):
        netns.mgmt_addresses(77, 1)
    with pytest.raises(ValueError, match="namespaces 1..62"):
        netns.mgmt_addresses(200, 63)


def test_cut_off_takes_down_every_broker_link_of_the_member_and_nothing_else() -> None:
    assert netns.cut_off("m4", ["b1", "b2"]) == [("m4", "b1"), ("m4", "b2")]


def test_isolating_a_broker_takes_down_its_link_to_every_member() -> None:
    assert netns.isolate_broker("b1", ["m1", "m2", "m3"]) == [("m1", "b1"), ("m2", "b1"), ("m3", "b1")]


def test_a_split_leaves_each_side_only_its_own_brokers() -> None:
    pairs = netns.split(((["m1", "m2"], ["b1"]), (["m3", "m4"], ["b2"])))
    assert sorted(pairs) == [("m1", "b2"), ("m2", "b2"), ("m3", "b1"), ("m4", "b1")]
    # three sides, one with no broker: its members lose every broker
    pairs = netns.split(((["m1"], ["b1", "b2"]), (["m2"], ["b3"]), (["m3"], [])))
    assert sorted(pairs) == [
        ("m1", "b3"),
        ("m2", "b1"),
        ("m2", "b2"),
        ("m3", "b1"),
        ("m3", "b2"),
        ("m3", "b3"),
    ]


@pytest.mark.parametrize(
    ("sides", "message"),
    [
        (((["m1"], ["b1"]), (["m2"], ["b1"])), "a broker is on two sides"),
        (((["m1"], ["b1"]), (["m1"], ["b2"])), "a member is on two sides"),
    ],
)
def test_a_split_with_something_on_two_sides_is_refused(sides: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        netns.split(sides)


def test_a_route_is_parsed_and_a_bad_one_says_the_expected_form() -> None:
    r = delay_proxy.Route.parse("b1=127.0.0.1:18831=10.77.3.2:8883")
    assert (r.name, r.listen_host, r.listen_port, r.target_host, r.target_port) == (
        "b1",
        "127.0.0.1",
        18831,
        "10.77.3.2",
        8883,
    )
    for bad in ("b1=127.0.0.1:18831", "b1=127.0.0.1:x=10.77.3.2:8883", "b1:18831:10.77.3.2:8883"):
        with pytest.raises(ValueError, match="NAME=LISTEN_HOST:PORT=TARGET_HOST:PORT"):
            delay_proxy.Route.parse(bad)


class _Sink:
    """What a StreamWriter does for the delay line: records each write with the loop's time."""

    def __init__(self) -> None:
        self.writes: list[tuple[float, bytes]] = []
        self.eof_at: float | None = None

    def write(self, data: bytes) -> None:
        self.writes.append((asyncio.get_running_loop().time(), data))

    async def drain(self) -> None:
        return None

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof_at = asyncio.get_running_loop().time()


async def test_the_delay_line_writes_each_chunk_a_delay_after_it_was_read_in_order() -> None:
    loop = asyncio.get_running_loop()
    route = delay_proxy.Route("b1", "127.0.0.1", 1, "10.77.1.2", 2, delay=0.05)
    reader, sink = asyncio.StreamReader(), _Sink()
    line = asyncio.create_task(delay_proxy.delay_line(reader, sink, route))  # type: ignore[arg-type]
    fed = {}
    for chunk in (b"first", b"second", b"third"):
        fed[chunk] = loop.time()
        reader.feed_data(chunk)
        await asyncio.sleep(0.01)  # separate reads
    reader.feed_eof()
    fed_eof = loop.time()
    await asyncio.wait_for(line, 5)
    assert b"".join(data for _, data in sink.writes) == b"firstsecondthird"
    for at, data in sink.writes:  # each write at least a delay after the chunk went in
        first_fed = min(t for chunk, t in fed.items() if data.startswith(chunk))
        assert at - first_fed >= route.delay - 0.001
    assert sink.eof_at is not None
    assert sink.eof_at - fed_eof >= route.delay - 0.001


async def test_without_a_delay_the_line_is_a_plain_copy() -> None:
    route = delay_proxy.Route("c", "127.0.0.1", 1, "10.77.1.2", 2)
    reader, sink = asyncio.StreamReader(), _Sink()
    reader.feed_data(b"abc")
    reader.feed_eof()
    await asyncio.wait_for(delay_proxy.delay_line(reader, sink, route), 5)  # type: ignore[arg-type]
    assert [data for _, data in sink.writes] == [b"abc"]
    assert sink.eof_at is not None


def test_without_root_the_topology_says_why_it_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    assert netns.unavailable() == "network namespaces need root (this runs as uid 1000)"


def test_without_iproute2_the_topology_says_why_it_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.os, "geteuid", lambda: 0)
    monkeypatch.setattr(netns, "_ip", lambda: None)
    assert netns.unavailable() == "the `ip` command (iproute2) is not installed"

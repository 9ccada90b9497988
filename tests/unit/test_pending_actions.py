"""What the health probe makes of an endpoint's pending RESUME/ROTATE actions: counts per kind and
the seconds until the earliest may be executed, judged by the chain's clock."""

from __future__ import annotations

import pytest

from relayer import metrics
from relayer.ops.endpoints import ActionKind, EndpointPending, ScheduledAction, export_pending


def view(chain: str, chain_time: int, *actions: ScheduledAction) -> EndpointPending:
    return EndpointPending(chain, 100, chain_time, 9, tuple(actions))


def gauge(name: str, **labels: str) -> float | None:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels)


@pytest.mark.parametrize(
    ("actions", "resumes", "rotates", "executable_in"),
    [
        ((), 0, 0, None),
        ((ScheduledAction(3, ActionKind.RESUME, 1, 1_500),), 1, 0, 500),
        ((ScheduledAction(3, ActionKind.ROTATE, 1, 900),), 0, 1, -100),  # executable already
        (
            (
                ScheduledAction(4, ActionKind.ROTATE, 1, 2_000),
                ScheduledAction(6, ActionKind.RESUME, 1, 1_200),
                ScheduledAction(7, ActionKind.ROTATE, 1, 3_000),
            ),
            1,
            2,
            200,  # the earliest, whatever its nonce
        ),
        ((ScheduledAction(5, None, 1, 1_001),), 0, 0, 1),  # an unknown type still counts in the time
    ],
)
def test_counts_per_kind_and_the_earliest_executable_time(
    actions: tuple[ScheduledAction, ...], resumes: int, rotates: int, executable_in: int | None
) -> None:
    v = view("c", 1_000, *actions)
    assert v.count(ActionKind.RESUME) == resumes
    assert v.count(ActionKind.ROTATE) == rotates
    assert v.executable_in == executable_in


def test_the_metric_kinds_are_the_action_kinds() -> None:
    assert set(metrics.PENDING_ACTION_KINDS) == {k.value for k in ActionKind}


def test_export_sets_the_counts_and_removes_the_time_when_nothing_is_pending() -> None:
    chain = "unit-pending-export"
    metrics.zero_pending_actions(chain)
    assert gauge("qiao_endpoint_pending_actions", chain=chain, kind="resume") == 0
    assert gauge("qiao_endpoint_pending_actions", chain=chain, kind="rotate") == 0
    export_pending(view(chain, 1_000, ScheduledAction(2, ActionKind.RESUME, 1, 1_050)))
    assert gauge("qiao_endpoint_pending_actions", chain=chain, kind="resume") == 1
    assert gauge("qiao_endpoint_pending_action_executable_seconds", chain=chain) == 50
    export_pending(view(chain, 1_100))
    assert gauge("qiao_endpoint_pending_actions", chain=chain, kind="resume") == 0
    assert gauge("qiao_endpoint_pending_action_executable_seconds", chain=chain) is None

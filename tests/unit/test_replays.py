"""The webhook-ids an edge remembers: for twice the replay window, at most a bound."""

from __future__ import annotations

from hub.connectors.runtime.replays import RecentIds


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_id_is_remembered_for_its_time_and_then_forgotten() -> None:
    clock = Clock()
    recent = RecentIds(keep_s=600, clock=clock)
    recent.add("msg_a")
    clock.now += 300
    recent.add("msg_b")
    assert ["msg_a" in recent, "msg_b" in recent, "msg_c" in recent] == [True, True, False]
    clock.now += 300
    assert "msg_a" not in recent
    assert "msg_b" in recent
    clock.now += 300
    assert "msg_b" not in recent


def test_an_id_accepted_again_is_kept_from_its_last_acceptance() -> None:
    clock = Clock()
    recent = RecentIds(keep_s=600, clock=clock)
    recent.add("msg_a")
    recent.add("msg_b")
    clock.now += 500
    recent.add("msg_a")
    clock.now += 200
    assert "msg_b" not in recent
    assert "msg_a" in recent


def test_a_full_memory_drops_the_oldest_ids_first() -> None:
    recent = RecentIds(keep_s=600, clock=Clock(), limit=3)
    for n in range(5):
        recent.add(f"msg_{n}")
    assert [f"msg_{n}" in recent for n in range(5)] == [False, False, True, True, True]

"""Scenario scheduling of ``liveloop-sfu bench``: who starts when, where, for how long."""

from __future__ import annotations

import random

import pytest

from benchmarks.harness.scenarios import (
    ScenarioConfig,
    ScenarioError,
    by_process,
    call_lengths,
    expected_streams,
    groups_for,
    plan,
)


@pytest.mark.parametrize(
    ("config", "sizes", "streams"),
    [
        (ScenarioConfig("steady", clients=4), [2, 2], 4),
        (ScenarioConfig("steady", clients=5), [2, 2], 4),  # the odd user out is not planned
        (ScenarioConfig("churn", clients=6), [2, 2, 2], 6),
        (ScenarioConfig("group", clients=8, room_size=4), [4, 4], 24),
        (ScenarioConfig("group", clients=9, room_size=4), [4, 4], 24),  # a room of 1: none
        (ScenarioConfig("group", clients=10, room_size=4), [4, 4, 2], 26),
        (ScenarioConfig("fanout", clients=5), [5], 4),
        (ScenarioConfig("fanout", clients=64), [64], 63),
        # Beyond the largest room: rooms as even as possible, one publisher each.
        (ScenarioConfig("fanout", clients=130), [44, 43, 43], 127),
    ],
)
def test_units_and_streams(config: ScenarioConfig, sizes: list[int], streams: int) -> None:
    assert groups_for(config) == sizes
    assert expected_streams(config) == streams


def test_steady_pairs_arrive_together_and_stay_in_one_process() -> None:
    users = plan(ScenarioConfig("steady", clients=6, duration=20, ramp_up=3), processes=2)
    assert [u.name for u in users] == ["u000", "u001", "u002", "u003", "u004", "u005"]
    assert [u.start for u in users] == [0.0, 0.0, 1.0, 1.0, 2.0, 2.0]
    assert [u.process for u in users] == [0, 0, 1, 1, 0, 0]
    assert [u.unit for u in users] == [0, 0, 1, 1, 2, 2]
    assert [u.calls for u in users] == [(20.0,), (20.0,), (19.0,), (19.0,), (18.0,), (18.0,)]
    assert all(u.room is None and u.publish for u in users)


def test_group_members_arrive_one_by_one_in_their_room() -> None:
    users = plan(ScenarioConfig("group", clients=6, room_size=3, ramp_up=6), processes=4)
    assert [u.room for u in users] == ["room000"] * 3 + ["room001"] * 3
    assert [u.unit for u in users] == [0, 0, 0, 1, 1, 1]
    assert [u.start for u in users] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert [u.process for u in users] == [0, 0, 0, 1, 1, 1]  # two rooms: two processes used
    assert all(u.publish for u in users)


def test_fanout_has_one_publisher() -> None:
    users = plan(ScenarioConfig("fanout", clients=4, ramp_up=0), processes=3)
    assert [u.publish for u in users] == [True, False, False, False]
    assert {u.process for u in users} == {0}
    assert {u.room for u in users} == {"room000"}


def test_churn_calls_cover_the_run_and_are_seeded() -> None:
    config = ScenarioConfig("churn", clients=4, duration=30, ramp_up=2, call_min=3, call_max=6)
    first, again = plan(config, 2), plan(config, 2)
    assert first == again  # same seed, same schedule
    for user in first:
        assert all(3 <= length <= 6 for length in user.calls)
        assert sum(user.calls) >= 30 - user.start
        assert sum(user.calls[:-1]) < 30 - user.start  # no call starts after the end
    other = plan(ScenarioConfig(**{**_fields(config), "seed": 2}), 2)
    assert [u.calls for u in other] != [u.calls for u in first]


def _fields(config: ScenarioConfig) -> dict[str, object]:
    return {name: getattr(config, name) for name in config.__slots__}


def test_call_lengths_are_bounded() -> None:
    lengths = call_lengths(random.Random(1), duration=1e9, low=0.001, high=0.001)
    assert len(lengths) == 1000


def test_by_process_groups_users() -> None:
    users = plan(ScenarioConfig("steady", clients=8), processes=3)
    grouped = by_process(users)
    assert sorted(grouped) == [0, 1, 2]
    assert [u.name for u in grouped[0]] == ["u000", "u001", "u006", "u007"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (ScenarioConfig("nope"), "scenario must be one of"),
        (ScenarioConfig(clients=1), "clients must be within"),
        (ScenarioConfig(clients=401), "clients must be within"),
        (ScenarioConfig(duration=0), "duration must be within"),
        (ScenarioConfig(duration=5, ramp_up=5), "ramp-up"),
        (ScenarioConfig("group", clients=4, room_size=5), "room size"),
        (ScenarioConfig("churn", call_min=5, call_max=4), "call-min"),
    ],
)
def test_invalid_configs(config: ScenarioConfig, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        plan(config, 2)

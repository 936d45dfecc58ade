"""The compiled engine's reservation tables against a plain dict: ring slots, overflow, re-layout."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from swallowtail.sim import engine


def _ops():
    # (resource, offset from the floor, count): offsets up to 3 rings so that slots collide
    return st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 3 * engine.RING), st.integers(1, 3)), max_size=60
    )


@settings(max_examples=60, deadline=None)
@given(ops=_ops(), floors=st.lists(st.integers(0, 500), min_size=1, max_size=4), shift=st.integers(0, 5000))
def test_reservations_match_a_dict(ops, floors, shift):
    r = engine.Reservations(3, ovf_capacity=4)
    ref: dict[tuple[int, int], int] = {}
    floor = 0
    for step, f in enumerate(floors):
        floor += f  # the floor only moves forward
        r.room(len(ops), floor)
        for c, off, inc in ops[step :: len(floors)]:
            t = floor + off
            engine.cal_add(r.tables, c, t, inc, floor)
            ref[(c, t)] = ref.get((c, t), 0) + inc
        for (c, t), v in ref.items():
            if t >= floor:  # what no request can reach any more may be gone
                assert engine.cal_get(r.tables, c, t) == v
        far = floor + 7 * engine.RING
        assert engine.cal_get(r.tables, 1, far) == 0
    live = {(c, t): v for (c, t), v in ref.items() if t >= floor}
    rows = r.live(floor)
    assert {(int(c), int(t)): int(v) for c, t, v in rows} == live
    assert [tuple(x) for x in rows[:, :2]] == sorted(live)  # by resource, then cycle
    r.rebuild(floor, shift)
    assert {(int(c), int(t)): int(v) for c, t, v in r.live(floor + shift)} == {
        (c, t + shift): v for (c, t), v in live.items()
    }
    for (c, t), v in live.items():
        assert engine.cal_get(r.tables, c, t + shift) == v


def test_first_free_window():
    r = engine.Reservations(1)
    for t in (10, 11, 13, 10 + engine.RING):  # the last one shares slot 10's ring slot: overflow
        engine.cal_add(r.tables, 0, t, 1, 0)
    assert r.ovf_n[0] == 1
    args = (r.tables, 0)
    assert engine.cal_free(*args, 10, 1) == 12
    assert engine.cal_free(*args, 10, 2) == 14
    assert engine.cal_free(*args, 9 + engine.RING, 2) == 11 + engine.RING
    assert np.array_equal(r.live(12)[:, 1], [13, 10 + engine.RING])

import pytest

from common.backoff import Backoff


@pytest.mark.parametrize("draw", [0.0, 0.5, 0.999])
def test_waits_grow_then_stay_under_the_cap_never_below_half(draw):
    backoff = Backoff(base=1.0, cap=8.0)
    waits = [backoff.delay(n, rand=lambda: draw) for n in range(1, 7)]
    ceilings = [1, 2, 4, 8, 8, 8]
    assert all(c / 2 <= w <= c for w, c in zip(waits, ceilings, strict=True)), waits


def test_jitter_spreads_the_waits():
    backoff = Backoff(base=1.0, cap=8.0)
    assert len({round(backoff.delay(3), 6) for _ in range(50)}) > 1

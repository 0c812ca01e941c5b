"""A noisy line costs frames, not the link: the real simulator behind a garbage proxy.

The same harness as ``benchmarks/dmesh_noise.py`` (``dmesh_lib.simulator.noise``): a simulated
concentrator at real speed, a TCP proxy that writes 1–63 seeded random bytes before a share of
its chunks, a real client. Shares are counted against what the simulated modules reported.
"""

from __future__ import annotations

import pytest

from dmesh_lib.simulator.noise import GarbageProxy, measure_noise


@pytest.mark.parametrize(("share", "goal"), [(0.3, 0.9), (0.5, 0.7)])
async def test_readings_arrive_through_garbage(share: float, goal: float) -> None:
    run = await measure_noise(share, seed=3, meter_modules=10, window_s=4.0)
    assert run.proxy.garbled_chunks > 0
    assert run.sent > 0
    assert run.decoded_share >= goal, run
    assert run.wrong == 0


def test_proxy_garbage_is_seeded_and_never_touches_the_data() -> None:
    a, b = (GarbageProxy("127.0.0.1", 1, share=0.5, seed=7) for _ in range(2))
    chunks = [bytes([i]) * 10 for i in range(50)]
    out_a = [a.garble(c) for c in chunks]
    assert out_a == [b.garble(c) for c in chunks]
    assert all(
        o.endswith(c) and 0 <= len(o) - len(c) <= 63 for o, c in zip(out_a, chunks, strict=True)
    )
    assert 0 < a.stats.garbled_chunks < len(chunks)

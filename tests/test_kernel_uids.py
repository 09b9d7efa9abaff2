"""autograder.kernel_uids: a uid per unit, never one that owns a process (another run's)."""

import os
import signal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograder.kernel_uids import UidPool, busy_uids


def test_the_graders_own_uid_is_busy():
    assert os.getuid() in busy_uids()


@given(st.integers(0, 2**32), st.integers(1, 50))
def test_a_pool_stays_in_its_range_and_goes_round(seed, n):
    pool = UidPool(70000, 7, seed=seed, locks="/tmp/gf-test-uid-locks")
    taken = []
    for _ in range(n):
        taken.append(pool.take())
        pool.release(taken[-1])
    assert all(70000 <= uid < 70007 for uid in taken)
    assert len(set(taken[:7])) == min(n, 7)  # round robin: no repeat before the range is used


def test_two_runs_starting_together_never_share_a_uid(tmp_path):
    first, second = (UidPool(70100, 5, seed=0, locks=tmp_path) for _ in range(2))
    taken = [first.take(), second.take(), first.take(), second.take()]
    assert len(set(taken)) == 4, taken  # the same start, yet four uids
    held = set(taken)
    first.release_all()
    second.release_all()
    third = UidPool(70100, 5, seed=0, locks=tmp_path)
    assert third.take() in held  # released: free again


@pytest.mark.skipif(os.geteuid() != 0, reason="a process of another uid needs root")
def test_a_uid_that_owns_a_process_is_skipped():
    ready, told = os.pipe()
    child = os.fork()
    if child == 0:  # a process left behind by another run's kernel, as uid 70003
        os.setresuid(70003, 70003, 70003)
        os.write(told, b"x")
        signal.pause()
        os._exit(0)
    os.read(ready, 1)
    try:
        pool = UidPool(70000, 5, seed=0, locks="/tmp/gf-test-uid-locks")
        pool._next = 3  # the pool would hand out 70003 next
        assert 70003 in busy_uids()
        taken = [pool.take() for _ in range(4)]
        pool.release_all()
        assert taken == [70004, 70000, 70001, 70002]
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)


def test_two_runs_start_in_different_places():
    starts = {UidPool()._next for _ in range(20)}
    assert len(starts) > 1


def test_without_locks_nothing_is_written(tmp_path):
    pool = UidPool(70200, 3, seed=1, locks=None)
    assert len({pool.take() for _ in range(3)}) == 3
    pool.release_all()

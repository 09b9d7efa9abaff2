"""coursekit.runtime: seeds and a thread count that respects the CPU quota."""

import numpy as np
import pytest
import torch

from coursekit import runtime


def test_seed_everything_makes_torch_and_numpy_repeat():
    runtime.seed_everything(7)
    a = (torch.rand(3), np.random.rand(3))  # noqa: NPY002
    rng = runtime.seed_everything(7)
    b = (torch.rand(3), np.random.rand(3))  # noqa: NPY002
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert isinstance(rng, np.random.Generator)


def test_seed_must_be_non_negative_int():
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        runtime.seed_everything(-1)


def test_cgroup_quota_is_read(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert runtime._cgroup_cpu_limit(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert runtime._cgroup_cpu_limit(tmp_path) is None


def test_available_cpus_follows_the_quota(monkeypatch):
    monkeypatch.setattr(runtime, "_cgroup_cpu_limit", lambda: 1.0)
    assert runtime.available_cpus() == 1


def test_configure_threads():
    n = runtime.configure_threads(1)
    assert n == 1 and torch.get_num_threads() == 1
    with pytest.raises(ValueError, match="n must be a positive integer"):
        runtime.configure_threads(0)
    runtime.configure_threads()


def test_omp_num_threads_caps_the_default(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert runtime.configure_threads() == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    runtime.configure_threads()


def test_lessons_default_to_the_measured_thread_count(monkeypatch):
    """bench/results/threads.md: one thread ran every lesson faster than two."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(runtime, "available_cpus", lambda: 8)
    assert runtime.LESSON_THREADS == 1
    assert runtime.configure_threads() == 1 and torch.get_num_threads() == 1


def test_every_lesson_sets_its_threads_in_the_set_up_cell():
    import json

    from autograder.course import Course

    course = Course()
    for lesson in course.lessons():
        cells = json.loads(course.master(lesson).read_text(encoding="utf-8"))["cells"]
        setup = next(c for c in cells if c["cell_type"] == "code")
        source = "".join(setup["source"])
        assert "coursekit.configure_threads()" in source, lesson

"""Grading through Dask: the same class, graded by a local pool and by a dask.distributed
cluster of worker processes (as on several machines sharing a file system), gets exactly
the same grades. README shows the set-up for a real cluster."""

from __future__ import annotations

import json
import shutil

import pytest

from autograder.course import Course
from autograder.grade import ClassGrader, GradeOptions
from autograder.release import release
from tests.conftest import FIXTURE_COURSE, with_answers

pytestmark = pytest.mark.slow
distributed = pytest.importorskip("distributed", reason="Dask is the optional extra 'dask'")
LESSON = "fixture_sum"


def _grades(out) -> list[tuple]:
    report = json.loads((out / "report.json").read_text())
    return sorted(
        (r["student"], r["status"], r["score"], tuple(c["points"] for c in r["cells"]))
        for r in report
    )


def test_a_dask_cluster_grades_exactly_as_the_local_pool(tmp_path):
    import dask

    course = Course(root=tmp_path / "course", notebooks=tmp_path / "released")
    shutil.copytree(FIXTURE_COURSE, course.root)
    student_version = json.loads(release(course, LESSON).read_text())
    subs = tmp_path / "submissions"
    answers = {
        "good": {"add": "def add(a, b):\n    return a + b", "answer_sqrt": "answer_sqrt = 4.0"},
        "wrong": {"add": "def add(a, b):\n    return a * b", "answer_sqrt": "answer_sqrt = 4.0"},
        "blank": {},
    }
    for student, given in answers.items():
        (subs / student).mkdir(parents=True)
        nb = with_answers(student_version, given)
        (subs / student / f"{LESSON}.ipynb").write_text(json.dumps(nb))
    options = GradeOptions(workers=2, progress=False, notebook_timeout=300)
    ClassGrader(course, subs, tmp_path / "local", options).run()

    # worker processes that may start processes of their own (each unit runs in one)
    with (
        dask.config.set({"distributed.worker.daemon": False}),
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        ClassGrader(
            course,
            subs,
            tmp_path / "dask",
            options,
            executor_factory=lambda n: client.get_executor(),
        ).run()
        ran_on = set(client.run(lambda: True))  # every worker was alive to the end
    assert len(ran_on) == 2
    assert _grades(tmp_path / "dask") == _grades(tmp_path / "local")
    assert [g[2] for g in _grades(tmp_path / "local")] == [0.0, 3.0, 1.0]  # blank, good, wrong

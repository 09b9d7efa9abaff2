"""autograder.proof_cache: a grading plan proven on a master is not proven again while the
master, coursekit and the libraries are unchanged; any change proves it again."""

import json

import pytest

from autograder import proof_cache, validate
from autograder.plan import PLAN_TAG
from autograder.proof_cache import Proofs, proof_key
from autograder.release import release
from autograder.validate import validate_lesson

LESSON = "fixture_sum"


def _add_experiment(master_path, source="experiment = [add(i, i) for i in range(3)]"):
    """A free code cell at the end, tagged for the plan (no graded cell needs it)."""
    nb = json.loads(master_path.read_text())
    nb["cells"].append(
        {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {"tags": [PLAN_TAG]},
            "outputs": [],
            "source": source,
        }
    )
    master_path.write_text(json.dumps(nb))


@pytest.fixture
def planned_course(fixture_course):
    _add_experiment(fixture_course.master(LESSON))
    release(fixture_course, LESSON)
    return fixture_course


@pytest.fixture
def proofs_made(monkeypatch):
    """Counts the plan proofs validate runs (each runs the master twice)."""
    calls = []
    real = validate.prove

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(validate, "prove", counted)
    return calls


def test_a_proven_plan_is_kept_and_not_proven_again(planned_course, proofs_made, tmp_path):
    folder = tmp_path / "proofs"
    first = validate_lesson(planned_course, LESSON, proofs=folder)
    assert first.ok, first.problems
    assert len(proofs_made) == 1 and "plan of 1 cells proven (every cell" in " ".join(first.checked)
    assert [p.name for p in folder.iterdir()] == [
        f"{LESSON}-{proof_key(planned_course.master(LESSON))}.json"
    ]

    second = validate_lesson(planned_course, LESSON, proofs=folder)
    assert second.ok, second.problems
    assert len(proofs_made) == 1, "the plan was proven again on an unchanged master"
    assert "not proven again" in " ".join(second.checked)
    assert "master with the plan 2/2 test cells" in second.checked  # still run and judged

    validate_lesson(planned_course, LESSON, proofs=folder, reprove=True)
    assert len(proofs_made) == 2


def test_a_changed_master_is_proven_again_and_its_old_proof_dropped(
    planned_course, proofs_made, tmp_path
):
    folder = tmp_path / "proofs"
    validate_lesson(planned_course, LESSON, proofs=folder)
    _add_experiment(planned_course.master(LESSON), "another = add(2, 2)")
    release(planned_course, LESSON)
    result = validate_lesson(planned_course, LESSON, proofs=folder)
    assert result.ok, result.problems
    assert len(proofs_made) == 2
    assert len(list(folder.iterdir())) == 1  # the older version's proof is gone


def test_a_failed_proof_is_not_kept(planned_course, tmp_path):
    """A tagged cell that changes what a later cell that runs sees: the proof fails."""
    master = planned_course.master(LESSON)
    nb = json.loads(master.read_text())
    nb["cells"].insert(2, {**nb["cells"][-1], "source": "import random\nrandom.random()"})
    nb["cells"][-1]["source"] = "import random\nprint(random.random())"
    nb["cells"][-1]["metadata"] = {}
    master.write_text(json.dumps(nb))
    release(planned_course, LESSON)
    folder = tmp_path / "proofs"
    result = validate_lesson(planned_course, LESSON, proofs=folder)
    assert not result.ok and any("grading plan" in p for p in result.problems), result.problems
    assert not folder.exists() or not list(folder.iterdir())


def test_the_key_follows_the_master_and_the_libraries(fixture_course, monkeypatch):
    master = fixture_course.master(LESSON)
    key = proof_key(master)
    assert proof_key(master) == key  # the same inputs, the same key
    _add_experiment(master)
    assert proof_key(master) != key
    edited = proof_key(master)
    real_version = proof_cache.metadata.version
    monkeypatch.setattr(
        proof_cache.metadata,
        "version",
        lambda name: "0.0-other" if name == "torch" else real_version(name),
    )
    assert proof_key(master) != edited


def test_proofs_kept_are_read_back_and_reuse_can_be_refused(fixture_course, tmp_path):
    proofs = Proofs(tmp_path, fixture_course.master(LESSON))
    assert proofs.kept(LESSON) is None
    proofs.keep(LESSON, {"proven": "2026-11-30 12:00", "skipped": [6]})
    assert proofs.kept(LESSON) == {"proven": "2026-11-30 12:00", "skipped": [6]}
    assert Proofs(tmp_path, fixture_course.master(LESSON), reuse=False).kept(LESSON) is None


def test_a_master_edited_while_its_plan_was_proven_keeps_no_proof(fixture_course, tmp_path):
    folder = tmp_path / "proofs"
    proofs = Proofs(folder, fixture_course.master(LESSON))  # the key: the master as it was
    _add_experiment(fixture_course.master(LESSON))  # edited before the proof ends
    assert proofs.keep(LESSON, {"proven": "now"}) is None
    assert not folder.exists()

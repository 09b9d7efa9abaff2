"""autograder.nbgrader_speedups: nbgrader's constant lookups answered once, with the answers
nbgrader's own code would give."""

import copy
import subprocess
import sys
from pathlib import Path

import jsonschema
import nbgrader.api
import pytest
from nbgrader.nbgraderformat import MetadataValidator, ValidationError

from autograder import nbgrader_speedups

nbgrader_speedups.install()

GRADED = {
    "grade": True,
    "solution": False,
    "locked": True,
    "points": 2,
    "grade_id": "test_f",
    "schema_version": 3,
}


def test_the_cached_alembic_head_is_what_the_alembic_cli_says():
    alembic = Path(sys.executable).with_name("alembic")
    with nbgrader.api._temp_alembic_ini("sqlite:////tmp/gradebook.db") as ini:
        heads = subprocess.run(
            [str(alembic), "-c", ini, "heads"], capture_output=True, text=True, check=True
        ).stdout
    assert nbgrader.api.get_alembic_version() == heads.split()[0]


def _cell(meta: dict):
    import nbformat

    cell = nbformat.v4.new_code_cell("assert f(1) == 2")
    cell.metadata["nbgrader"] = meta
    return cell


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"points": "two"},  # not a number
        {"grade_id": 7},
        {"extra_key": 1},
        {"grade": "yes"},
    ],
)
def test_cells_get_the_verdict_and_error_of_jsonschema_validate(change):
    """Each cell's metadata, checked through nbgrader's MetadataValidator (which now calls
    validate_metadata), gets what jsonschema.validate itself says about it."""
    meta = {**GRADED, **change}
    validator = MetadataValidator()
    try:
        jsonschema.validate(copy.deepcopy(meta), validator.schema)
        expected = None
    except jsonschema.ValidationError as exc:
        expected = exc.message
    try:
        validator.validate_cell(_cell(copy.deepcopy(meta)))
        got = None
    except ValidationError as exc:
        got = exc.message
    assert got == expected
    if change:
        assert expected is not None, f"{change} should be invalid metadata"


def test_the_schema_is_checked_once_and_a_bad_schema_is_still_refused():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    before = len(nbgrader_speedups._CHECKED_SCHEMAS)
    nbgrader_speedups.validate_metadata({"a": 1}, schema)
    nbgrader_speedups.validate_metadata({"a": 2}, dict(schema))  # an equal copy: same entry
    assert len(nbgrader_speedups._CHECKED_SCHEMAS) == before + 1
    with pytest.raises(jsonschema.ValidationError):
        nbgrader_speedups.validate_metadata({"a": "x"}, schema)
    with pytest.raises(jsonschema.SchemaError):
        nbgrader_speedups.validate_metadata({}, {"type": "no-such-type"})


def test_nbgraders_module_is_patched_where_it_looks_up_validate():
    from nbgrader.nbgraderformat import common

    assert common.jsonschema.validate is nbgrader_speedups.validate_metadata


def _compilations(gradebooks_on: Path) -> int:
    """SQL compilations of opening a gradebook three times and reading an assignment."""
    import sqlalchemy.sql.compiler as compiler

    count = 0
    real = compiler.Compiled.__init__

    def counting(self, *args, **kwargs):
        nonlocal count
        count += 1
        real(self, *args, **kwargs)

    compiler.Compiled.__init__ = counting
    try:
        for _ in range(3):
            with nbgrader.api.Gradebook(f"sqlite:///{gradebooks_on}", "c") as gb:
                gb.find_assignment("lesson")
    finally:
        compiler.Compiled.__init__ = real
    return count


def test_one_units_gradebooks_share_one_engine_and_compile_their_sql_once(tmp_path):
    db = tmp_path / "gradebook.db"
    with nbgrader.api.Gradebook(f"sqlite:///{db}", "c") as gb:
        gb.add_assignment("lesson")
    apart = _compilations(db)
    with nbgrader_speedups.one_engine_per_database():
        shared = _compilations(db)
        with nbgrader.api.Gradebook(f"sqlite:///{db}", "c") as one:
            with nbgrader.api.Gradebook(f"sqlite:///{db}", "c") as two:
                assert one.engine is two.engine
                assert two.find_assignment("lesson").name == "lesson"
    assert shared < apart, (shared, apart)
    # afterwards: nbgrader's own create_engine again, and a database made anew is read anew
    db.unlink()
    with nbgrader.api.Gradebook(f"sqlite:///{db}", "c") as gb:
        assert gb.assignments == []
    with nbgrader_speedups.one_engine_per_database():
        with nbgrader.api.Gradebook(f"sqlite:///{db}", "c") as one:
            one.add_assignment("other")
    with nbgrader.api.Gradebook(f"sqlite:///{db}", "c") as two:
        assert one.engine is not two.engine
        assert [a.name for a in two.assignments] == ["other"]

"""autograder.unit: what one grading unit relies on besides nbgrader itself (the units
are graded end to end in test_grade.py)."""

import subprocess
import sys
from pathlib import Path

import nbgrader.api

import autograder.unit  # noqa: F401 -- replaces nbgrader's alembic lookup on import


def test_the_cached_alembic_head_is_what_the_alembic_cli_says():
    alembic = Path(sys.executable).with_name("alembic")
    with nbgrader.api._temp_alembic_ini("sqlite:////tmp/gradebook.db") as ini:
        heads = subprocess.run(
            [str(alembic), "-c", ini, "heads"], capture_output=True, text=True, check=True
        ).stdout
    assert nbgrader.api.get_alembic_version() == heads.split()[0]

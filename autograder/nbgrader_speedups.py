"""nbgrader's fixed costs that do not change while we grade, paid once per process.

``install()`` (called by ``autograder.unit`` on import, so in the grader's forkserver
before any unit forks) replaces two of nbgrader's lookups with their answer:

- nbgrader runs ``alembic heads`` in a subprocess (~0.9 s) every time it opens a
  gradebook, about five times per graded notebook; the answer never changes while we
  run, so it is read once, through alembic's own API (no subprocess);
- nbgrader checks each cell's nbgrader metadata with ``jsonschema.validate``, which first
  checks the *schema* against JSON Schema's metaschema, on every call (a few ms a cell,
  ~0.1 s a notebook); nbgrader's schema files are its own and constant, so each is
  checked once and cells are validated against it as before, with the same error.
"""

from __future__ import annotations

import json
import types
from typing import Any

import jsonschema
import nbgrader.api
from nbgrader.nbgraderformat import common

_CHECKED_SCHEMAS: dict[str, Any] = {}


def _cache_alembic_head() -> None:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    with nbgrader.api._temp_alembic_ini("sqlite:////tmp/gradebook.db") as alembic_ini:
        head = ScriptDirectory.from_config(AlembicConfig(alembic_ini)).get_current_head()
    nbgrader.api.get_alembic_version = lambda: head


def validate_metadata(instance: Any, schema: dict) -> None:
    """``jsonschema.validate(instance, schema)`` with the schema checked only the first time
    it is seen: raises the same best-matching ``ValidationError`` for an invalid instance,
    and ``SchemaError`` for an invalid schema."""
    key = json.dumps(schema, sort_keys=True)
    validator = _CHECKED_SCHEMAS.get(key)
    if validator is None:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        validator = _CHECKED_SCHEMAS[key] = cls(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if error is not None:
        raise error


def install() -> None:
    """Both replacements (idempotent)."""
    _cache_alembic_head()
    if not isinstance(common.jsonschema, types.SimpleNamespace):
        # nbgrader's metadata module reads ``jsonschema.validate`` and nothing else of it
        common.jsonschema = types.SimpleNamespace(validate=validate_metadata)

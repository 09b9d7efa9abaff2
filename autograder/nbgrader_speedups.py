"""nbgrader's fixed costs that do not change while we grade, paid once per process.

``install()`` (called by ``autograder.unit`` on import, so in the grader's forkserver
before any unit forks) replaces two of nbgrader's lookups with their answer (and
``one_engine_per_database`` lets one unit's gradebooks share their compiled SQL):

- nbgrader runs ``alembic heads`` in a subprocess (~0.9 s) every time it opens a
  gradebook, about five times per graded notebook; the answer never changes while we
  run, so it is read once, through alembic's own API (no subprocess);
- nbgrader checks each cell's nbgrader metadata with ``jsonschema.validate``, which first
  checks the *schema* against JSON Schema's metaschema, on every call (a few ms a cell,
  ~0.1 s a notebook); nbgrader's schema files are its own and constant, so each is
  checked once and cells are validated against it as before, with the same error.
"""

from __future__ import annotations

import contextlib
import json
import types
from collections.abc import Iterator
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


@contextlib.contextmanager
def one_engine_per_database() -> Iterator[None]:
    """Within it, the gradebooks nbgrader opens on one database share one SQLAlchemy engine.

    nbgrader opens a new ``Gradebook`` (a new engine) about ten times per graded notebook,
    and an engine keeps the SQL it compiled for itself: each compiled the same statements
    again (44 compilations a unit instead of 24, ~0.05 s). Closing a gradebook disposes of
    the engine's pooled connections as before; on exit the engines are disposed of and
    forgotten, so a database file made again at the same path is opened afresh."""
    real = nbgrader.api.create_engine
    engines: dict[tuple, Any] = {}

    def create_engine(url: Any, **options: Any) -> Any:
        key = (str(url), tuple(sorted(options.items())))
        if key not in engines:
            engines[key] = real(url, **options)
        return engines[key]

    nbgrader.api.create_engine = create_engine
    try:
        yield
    finally:
        nbgrader.api.create_engine = real
        for engine in engines.values():
            engine.dispose()


def install() -> None:
    """Both replacements (idempotent)."""
    _cache_alembic_head()
    if not isinstance(common.jsonschema, types.SimpleNamespace):
        # nbgrader's metadata module reads ``jsonschema.validate`` and nothing else of it
        common.jsonschema = types.SimpleNamespace(validate=validate_metadata)

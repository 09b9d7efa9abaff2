"""The selected claims modules' masters start executing as soon as the run is collected,
two at a time (``executed.prefetch``); each module's fixture takes its own execution."""

from __future__ import annotations

from tests.claims import executed

PREFIX = "tests.claims.test_claims_"


def pytest_collection_finish(session) -> None:
    modules = {getattr(item, "module", None) for item in session.items}
    chosen = sorted(
        (m for m in modules if m is not None and m.__name__.startswith(PREFIX)),
        key=lambda m: m.__name__,
    )
    executed.prefetch(
        [(m.__name__.removeprefix(PREFIX), m.READ_BACK) for m in chosen if hasattr(m, "READ_BACK")]
    )


def pytest_sessionfinish(session) -> None:
    executed.stop_prefetch()

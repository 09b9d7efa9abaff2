"""The conceptual questions' keys and numeric oracles: judge side only, never in a kernel.

One module per lesson (named like its module in ``autograder.kernel.collect``), each with
``LESSON`` (the lesson id) and ``QUESTIONS`` ({check name: its judge}).
"""

from __future__ import annotations

from autograder.judge.answers import (
    backprop,
    dead_relu,
    diagnosis,
    dropout,
    examples,
    exploding,
    vanishing,
)

_MODULES = (examples, backprop, vanishing, exploding, dead_relu, dropout, diagnosis)

QUESTIONS = {module.LESSON: module.QUESTIONS for module in _MODULES}

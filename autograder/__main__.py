"""``python -m autograder`` is the same as the ``autograder`` command."""

import sys

from autograder.cli import main

if __name__ == "__main__":  # guarded: the grader's worker processes import this module again
    sys.exit(main())

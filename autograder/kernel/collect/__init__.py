"""Hidden checks as the kernel runs them: each records what the student's code does on the
grader's inputs and reports it (``record``); the judge runs the same checks on the report."""

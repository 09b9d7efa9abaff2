"""The kernel side of grading: runs inside the student's sandbox; imports only
``autograder.protocol``, ``coursekit`` and third-party libraries."""

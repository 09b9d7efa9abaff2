"""autograder.grade_options: --memory sizes, and the floor a lesson's kernel needs."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograder.course import UsageError
from autograder.grade_options import MIN_MEMORY, GradeOptions, parse_size


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("2G", 2 * 2**30),
        ("1500M", 1500 * 2**20),
        ("1.5g", 3 * 2**29),
        ("2GiB", 2 * 2**30),
        ("524288k", 512 * 2**20),
        (str(3 * 2**30), 3 * 2**30),
        (" 1g ", 2**30),
    ],
)
def test_sizes_in_the_usual_units(text, size):
    assert parse_size(text) == size


@given(st.integers(MIN_MEMORY, 2**40))
def test_a_number_of_bytes_is_itself(size):
    assert parse_size(str(size)) == size


@pytest.mark.parametrize("text", ["", "lots", "2X", "G", "1.5.2G"])
def test_what_is_not_a_size_says_how_to_write_one(text):
    with pytest.raises(UsageError, match="give a size like 2G or 1500M"):
        parse_size(text)


@pytest.mark.parametrize("text", ["500M", "64M", "0", "-1G"])
def test_too_little_for_a_lessons_kernel_is_refused_with_why(text):
    with pytest.raises(UsageError, match="at least 512M .*kernel holds up to about 0.5G"):
        parse_size(text)


def test_the_default_memory_passes_its_own_check():
    assert parse_size("2G") == GradeOptions().memory_bytes

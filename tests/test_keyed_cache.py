"""autograder.keyed_cache: files kept by content, whole or not at all, one version a lesson."""

import pytest

from autograder.keyed_cache import keep


def test_keeping_a_file_drops_that_lessons_older_keys_only(tmp_path):
    for name in ("les-aaa.json", "les-bbb.json", "les_two-ccc.json", "les-ddd.ipynb"):
        (tmp_path / name).write_text("old")
    kept = keep(tmp_path / "les-eee.json", lambda partial: partial.write_text("new"))
    assert kept.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "les-ddd.ipynb",  # another kind of file
        "les-eee.json",
        "les_two-ccc.json",  # another lesson
    ]


def test_a_failed_write_leaves_the_kept_file_as_it_was(tmp_path):
    (tmp_path / "les-aaa.json").write_text("proven")

    def fails(partial):
        partial.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        keep(tmp_path / "les-aaa.json", fails)
    assert (tmp_path / "les-aaa.json").read_text() == "proven"
    assert [p.name for p in tmp_path.iterdir()] == ["les-aaa.json"]  # no partial file left

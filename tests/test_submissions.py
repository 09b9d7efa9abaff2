"""autograder.submissions: the three layouts, zips, student ids, bad input."""

import json
import os
import stat
import unicodedata
import zipfile

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from autograder.course import UsageError
from autograder.notebook_file import MAX_NOTEBOOK_BYTES
from autograder.submissions import (
    MAX_ID_BYTES,
    _looks_like_another,
    digest,
    find_units,
    safe_student_id,
    student_ids,
    unpack,
)

LESSONS = ["01_backprop", "02_vanishing_gradients"]


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": []}))


def test_flat_layout_and_missing_lessons(tmp_path):
    _touch(tmp_path / "ann" / "01_backprop.ipynb")
    _touch(tmp_path / "bo" / "02_vanishing_gradients" / "02_vanishing_gradients.ipynb")
    (tmp_path / "bo" / "notes.txt").write_text("stray")
    units = {(u.student, u.lesson): u.path for u in find_units(tmp_path, LESSONS)}
    assert units[("ann", "01_backprop")].name == "01_backprop.ipynb"
    assert units[("ann", "02_vanishing_gradients")] is None
    assert units[("bo", "02_vanishing_gradients")] is not None
    assert len(units) == 4


def test_nbgrader_layout_and_wrapping_folder(tmp_path):
    _touch(tmp_path / "export" / "submitted" / "cy" / "01_backprop" / "01_backprop.ipynb")
    (units,) = [u for u in find_units(tmp_path / "export", LESSONS[:1])]
    assert units.student == "cy" and units.path is not None
    _touch(tmp_path / "wrap" / "course-2026" / "dee" / "01_backprop.ipynb")
    (unit,) = find_units(tmp_path / "wrap", LESSONS[:1])
    assert unit.student == "dee"


def test_student_ids_are_made_safe_and_never_collide(tmp_path):
    assert safe_student_id("ann") == "ann"
    assert safe_student_id(" Ann Lee (42) ").startswith("Ann_Lee__42~")
    _touch(tmp_path / "a b" / "01_backprop.ipynb")
    _touch(tmp_path / "a_b" / "01_backprop.ipynb")
    units = find_units(tmp_path, LESSONS[:1])
    assert len({u.student for u in units}) == 2
    assert "a_b" in {u.student for u in units}


def test_students_filter_and_unknown_student(tmp_path):
    _touch(tmp_path / "ann" / "01_backprop.ipynb")
    _touch(tmp_path / "bo" / "01_backprop.ipynb")
    assert [u.student for u in find_units(tmp_path, LESSONS[:1], ["bo"])] == ["bo"]
    with pytest.raises(UsageError, match="no submissions from zed"):
        find_units(tmp_path, LESSONS[:1], ["zed"])


def test_zip_is_unpacked_safely(tmp_path):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ann/01_backprop.ipynb", "{}")
        zf.writestr("../escape.txt", "outside")
    out = unpack(archive, tmp_path / "out")
    assert (out / "ann" / "01_backprop.ipynb").is_file()
    assert not (tmp_path / "escape.txt").exists()


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_a_zip_entry_cannot_reach_another_students_folder_or_the_class(tmp_path):
    """Red team: 'mallory/../honest/01_backprop.ipynb' after honest's own replaced honest's
    notebook with a blank one; 'mallory/../nbgrader_config.py' and
    'mallory/../submitted/mallory/...' made the nbgrader layout the class's, and honest got
    no row. Such entries are not extracted, and of two entries of one name the first stays."""
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("honest/01_backprop.ipynb", "solved")
        zf.writestr("mallory/01_backprop.ipynb", "mallory's")
        zf.writestr("mallory/../honest/01_backprop.ipynb", "blank")
        zf.writestr("mallory/./../honest/02_vanishing_gradients.ipynb", "blank")
        zf.writestr("mallory/../nbgrader_config.py", "")
        zf.writestr("mallory/../submitted/mallory/01_backprop/01_backprop.ipynb", "x")
        zf.writestr("/abs/honest/03_exploding_gradients.ipynb", "x")
        zf.writestr("honest/04_dead_relu.ipynb", "first")
        zf.writestr("honest/04_dead_relu.ipynb", "second")
        zf.writestr("./honest/05_dropout.ipynb", "as some tools name it")
    out = unpack(archive, tmp_path / "out")
    assert sorted(p.name for p in out.iterdir()) == ["honest", "mallory"]
    assert sorted(p.name for p in (out / "honest").iterdir()) == [
        "01_backprop.ipynb",
        "04_dead_relu.ipynb",
        "05_dropout.ipynb",
    ]
    assert (out / "honest" / "01_backprop.ipynb").read_text() == "solved"
    assert (out / "honest" / "04_dead_relu.ipynb").read_text() == "first"
    units = find_units(out, LESSONS[:1])
    assert [(u.student, u.path.read_text()) for u in units] == [
        ("honest", "solved"),
        ("mallory", "mallory's"),
    ]


def test_bad_inputs(tmp_path):
    with pytest.raises(UsageError, match="no such folder"):
        find_units(tmp_path / "nope", LESSONS)
    bad = tmp_path / "x.zip"
    bad.write_text("nope")
    with pytest.raises(UsageError, match="not a readable zip"):
        unpack(bad, tmp_path / "o")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no student folders"):
        find_units(tmp_path / "empty", LESSONS)


# -- student ids: any two folder names stay two students, readable, short -----------------

ANY_NAME = st.text(st.characters(blacklist_categories=()), max_size=300)


def _id_bytes(student: str) -> int:
    return len(student.encode("utf-8"))  # raises for a lone surrogate: ids never hold one


@given(ANY_NAME, ANY_NAME)
def test_distinct_names_give_distinct_ids(a, b):
    assume(a != b)
    assert safe_student_id(a) != safe_student_id(b)


@given(st.lists(ANY_NAME, unique=True, max_size=30))
def test_a_class_of_names_gives_as_many_ids(names):
    ids = student_ids(names)
    assert len(set(ids.values())) == len(names)


@given(ANY_NAME)
def test_ids_are_bounded_safe_and_stable(name):
    student = safe_student_id(name)
    assert _id_bytes(student) <= MAX_ID_BYTES + 1 + 8
    assert student and student not in {".", ".."}
    assert not student.startswith((".", "-", "+", "@", "_", "~"))
    assert all(c.isalnum() or c in "_.@+-~" or unicodedata.category(c)[0] == "M" for c in student)
    assert safe_student_id(name) == student


@given(st.text(st.characters(whitelist_categories=("Lu", "Ll", "Lo", "Nd")), min_size=1))
def test_names_of_letters_and_digits_are_kept_as_they_are(name):
    """Kept whole, and alone unless the name could read as another's (then with a hash)."""
    assume(unicodedata.normalize("NFC", name) == name)
    student = safe_student_id(name)
    if len(name.encode()) <= MAX_ID_BYTES:
        if _looks_like_another(name):
            assert student.startswith(name + "~"), student
        else:
            assert student == name
    else:  # shortened: what is kept is the name's beginning
        readable, _, digest_part = student.rpartition("~")
        assert name.startswith(readable) and len(digest_part) == 8


@pytest.mark.parametrize(
    ("name", "readable"),
    [
        ("张伟", "张伟"),
        ("李娜", "李娜"),
        ("Zoë", "Zoë"),
        ("Мария", "Мария"),
        ("محمد", "محمد"),
        ("张 伟", "张_伟~"),
        ("Jose\u0301", "José~"),  # decomposed, as macOS zips write it
        ("-2+3", "2+3~"),
        ("=HYPERLINK(x)", "HYPERLINK_x~"),
        ("..", "student~"),
        ("", "student~"),
        ("\ud800", "student~"),
        ("ann~1234abcd", "ann_1234abcd~"),
    ],
)
def test_ids_stay_readable(name, readable):
    student = safe_student_id(name)
    assert student == readable if not readable.endswith("~") else student.startswith(readable)


def test_non_latin_folders_are_two_students(tmp_path):
    _touch(tmp_path / "张伟" / "01_backprop.ipynb")
    _touch(tmp_path / "李娜" / "01_backprop.ipynb")
    _touch(tmp_path / "张 伟" / "01_backprop.ipynb")
    units = find_units(tmp_path, LESSONS[:1])
    assert len(units) == 3
    assert {"张伟", "李娜"} <= {u.student for u in units}
    assert all(u.path is not None and not u.refused for u in units)
    assert [u.student for u in find_units(tmp_path, LESSONS[:1], ["李娜"])] == ["李娜"]


@pytest.mark.parametrize("name", ["x" * 240, "张" * 85, "Ünïcødé " * 15])
def test_long_folder_names_give_short_ids(tmp_path, name):
    _touch(tmp_path / name / "01_backprop.ipynb")
    _touch(tmp_path / (name[:-1] + "y") / "01_backprop.ipynb")
    units = find_units(tmp_path, LESSONS[:1])
    assert len({u.student for u in units}) == 2
    for unit in units:
        assert _id_bytes(unit.student) <= MAX_ID_BYTES + 9
        assert unit.student.startswith(name.strip()[:10].replace(" ", "_"))
        assert len(f"{unit.key}.json".encode()) < 255  # RESULTS/units/<key>.json


def test_short_hashes_that_meet_are_told_apart(monkeypatch):
    import autograder.submissions as submissions

    real = submissions.name_hash
    monkeypatch.setattr(
        submissions, "name_hash", lambda n, length=8: "0" * 8 if length == 8 else real(n, length)
    )
    ids = submissions.student_ids(["a b", "a?b", "ann"])
    assert ids["ann"] == "ann" and ids["a b"] != ids["a?b"]


# -- symbolic links, other files, two files for one lesson --------------------------------


def test_a_symlinked_notebook_is_refused_never_followed(tmp_path):
    master = tmp_path / "master.ipynb"
    master.write_text(json.dumps({"cells": [{"the": "answers"}]}))
    subs = tmp_path / "subs"
    _touch(subs / "ann" / "01_backprop.ipynb")
    (subs / "bo").mkdir()
    (subs / "bo" / "01_backprop.ipynb").symlink_to(master)
    (subs / "cy").mkdir()
    (subs / "cy" / "01_backprop.ipynb").symlink_to(tmp_path / "nowhere")
    units = {u.student: u for u in find_units(subs, LESSONS[:1])}
    assert not units["ann"].refused
    for student in ("bo", "cy"):
        assert "symbolic link" in units[student].refused
        assert "not graded" in units[student].refused
        assert units[student].path.is_symlink()


def test_symlinked_folders_are_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    _touch(elsewhere / "01_backprop.ipynb")
    _touch(elsewhere / "02_vanishing_gradients" / "02_vanishing_gradients.ipynb")
    subs = tmp_path / "subs"
    _touch(subs / "ann" / "01_backprop.ipynb")
    (subs / "linked_student").symlink_to(elsewhere)
    (subs / "bo").mkdir()
    (subs / "bo" / "02_vanishing_gradients").symlink_to(elsewhere / "02_vanishing_gradients")
    (subs / "dangling").symlink_to(tmp_path / "gone")
    units = {(u.student, u.lesson): u for u in find_units(subs, LESSONS)}
    for lesson in LESSONS:
        assert "'linked_student' is a symbolic link" in units[("linked_student", lesson)].refused
        assert "symbolic link" in units[("dangling", lesson)].refused
    assert "symbolic link" in units[("bo", "02_vanishing_gradients")].refused
    assert units[("bo", "01_backprop")].path is None  # missing, as before


def test_a_symlinked_wrapping_folder_is_not_entered(tmp_path):
    _touch(tmp_path / "real" / "ann" / "01_backprop.ipynb")
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "wrap").symlink_to(tmp_path / "real")
    (unit,) = find_units(tmp_path / "subs", LESSONS[:1])
    assert unit.student == "wrap" and "symbolic link" in unit.refused


def test_files_that_are_not_regular_files_are_refused(tmp_path):
    (tmp_path / "fifo").mkdir()
    os.mkfifo(tmp_path / "fifo" / "01_backprop.ipynb")
    (tmp_path / "dir" / "01_backprop.ipynb").mkdir(parents=True)
    units = {u.student: u for u in find_units(tmp_path, LESSONS[:1])}
    assert "not a regular file" in units["fifo"].refused
    assert "is a folder" in units["dir"].refused
    assert len(digest(tmp_path / "fifo" / "01_backprop.ipynb")) == 64  # does not block


def test_a_file_too_big_for_a_notebook_is_refused_unread(tmp_path):
    path = tmp_path / "ann" / "01_backprop.ipynb"
    path.parent.mkdir()
    with open(path, "wb") as f:
        f.truncate(MAX_NOTEBOOK_BYTES + 2**20)  # sparse: nothing is written
    (unit,) = find_units(tmp_path, LESSONS[:1])
    assert "51.0 MiB" in unit.refused and "50 MiB" in unit.refused


def test_two_files_for_one_lesson_grade_one_and_name_both(tmp_path):
    _touch(tmp_path / "ann" / "01_backprop.ipynb")
    _touch(tmp_path / "ann" / "01_backprop" / "01_backprop.ipynb")
    (tmp_path / "bo" / "01_backprop").mkdir(parents=True)
    (tmp_path / "bo" / "01_backprop.ipynb").symlink_to(tmp_path / "ann" / "01_backprop.ipynb")
    _touch(tmp_path / "bo" / "01_backprop" / "01_backprop.ipynb")
    units = {u.student: u for u in find_units(tmp_path, LESSONS[:1])}
    ann, bo = units["ann"], units["bo"]
    assert ann.path == tmp_path / "ann" / "01_backprop.ipynb" and not ann.refused
    (note,) = ann.notes
    assert "'ann/01_backprop.ipynb'" in note and "'ann/01_backprop/01_backprop.ipynb'" in note
    assert bo.path == tmp_path / "bo" / "01_backprop" / "01_backprop.ipynb" and not bo.refused
    assert "'bo/01_backprop.ipynb'" in bo.notes[0]
    assert find_units(tmp_path, LESSONS[:1]) == find_units(tmp_path, LESSONS[:1])


def test_digest_does_not_follow_links(tmp_path):
    import hashlib

    (tmp_path / "a").write_bytes(b"notebook")
    (tmp_path / "link").symlink_to(tmp_path / "a")
    assert digest(tmp_path / "a") == hashlib.sha256(b"notebook").hexdigest()
    assert digest(tmp_path / "link") != digest(tmp_path / "a")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    assert len(digest(tmp_path / "dangling")) == 64


# -- zips: links, bad entries, long names ---------------------------------------------------


def _symlink_entry(zf, name: str, target: str) -> None:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    zf.writestr(info, target)


def test_zip_symlinks_are_refused_not_followed(tmp_path):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("export/ann/01_backprop.ipynb", json.dumps({"cells": []}))
        _symlink_entry(zf, "export/bo/01_backprop.ipynb", "../../../master.ipynb")
        _symlink_entry(zf, "export/cy", "/etc")
        zf.writestr("export/cy/01_backprop.ipynb", "{}")  # through the link: skipped
    out = unpack(archive, tmp_path / "out")
    units = {u.student: u for u in find_units(out, LESSONS[:1])}
    assert not units["ann"].refused
    for student in ("bo", "cy"):
        assert "symbolic link in the zip" in units[student].refused, units[student]
    assert not os.path.exists(units["bo"].path)  # a link to nowhere: nothing to follow
    assert not (tmp_path / "etc").exists()


def test_zip_entries_that_cannot_be_extracted_are_one_students_problem(tmp_path, monkeypatch):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("ann/01_backprop.ipynb", json.dumps({"cells": []}))
        zf.writestr("bo/01_backprop.ipynb", "CORRUPT-ME" * 10)
        zf.writestr("cy", "a file where a folder must go")
        zf.writestr("cy/01_backprop.ipynb", json.dumps({"cells": []}))
        zf.writestr("dee/01_backprop.ipynb", "x" * 5000)
        zf.writestr("张" * 100 + "/01_backprop.ipynb", json.dumps({"cells": []}))
    data = archive.read_bytes()
    archive.write_bytes(data.replace(b"CORRUPT-ME", b"CORRUPTED!", 1))
    monkeypatch.setattr("autograder.notebook_file.MAX_NOTEBOOK_BYTES", 4096)
    out = unpack(archive, tmp_path / "out")
    units = {u.student: u for u in find_units(out, LESSONS[:1])}
    assert not units["ann"].refused
    assert "could not be extracted (BadZipFile)" in units["bo"].refused
    assert "notebooks above 0 MiB are not read" in units["dee"].refused
    (long_name,) = [s for s in units if s.startswith("张")]
    assert _id_bytes(long_name) <= MAX_ID_BYTES + 9 and not units[long_name].refused


def test_a_student_named_submitted_cannot_hide_the_others(tmp_path):
    """A student folder called ``submitted`` (nested like nbgrader's layout, with forged
    students inside) beside the other students is one student among them: the others are
    all found, the forged ones are not; nbgrader's own layout is still read where its course
    files stand beside ``submitted``."""
    _touch(tmp_path / "class" / "honest" / "01_backprop.ipynb")
    _touch(tmp_path / "class" / "zed" / "01_backprop.ipynb")
    _touch(tmp_path / "class" / "submitted" / "evil_friend" / "01_backprop" / "01_backprop.ipynb")
    _touch(tmp_path / "class" / "submitted" / "honest" / "01_backprop" / "01_backprop.ipynb")
    units = {u.student: u.path for u in find_units(tmp_path / "class", LESSONS[:1])}
    assert set(units) == {"honest", "zed", "submitted"}, units
    assert units["honest"] == tmp_path / "class" / "honest" / "01_backprop.ipynb"
    assert units["submitted"] is None  # nothing of its own at the places a lesson is looked for

    course = tmp_path / "course"
    _touch(course / "submitted" / "cy" / "01_backprop" / "01_backprop.ipynb")
    _touch(course / "source" / "01_backprop" / "01_backprop.ipynb")
    (course / "nbgrader_config.py").write_text("c = get_config()\n")
    assert [u.student for u in find_units(course, LESSONS[:1])] == ["cy"]


def test_an_invisible_mark_never_makes_a_look_alike_id():
    """Red team: "honest" followed by a variation selector (a combining mark that changes
    nothing one sees) showed as a second "honest" in grades.csv. Such marks, and any mark
    on an ASCII letter, become visible: ``_`` and the hash; marks of other scripts stay."""
    for name in ("honest\ufe00", "honest\U000e0100", "ba\u034fd", "hon\u0334est"):
        student = safe_student_id(name)
        assert "~" in student and student != "honest", (name, student)
    for name in ("नमस्ते", "José", "Zoë", "李雷"):
        assert safe_student_id(name) == name


@pytest.mark.parametrize(
    "look_alike",
    [
        "honest\u1160",  # a Hangul filler: a letter that shows as nothing
        "honest\u3164",
        "h\u043enest",  # Cyrillic о among Latin letters
        "hone\u0455t",  # Cyrillic ѕ
        "\uff48onest",  # fullwidth ｈ
        "\U0001d5c1\U0001d5c8\U0001d5c7\U0001d5be\U0001d5cc\U0001d5cd",  # mathematical sans-serif
        "hone\u017ft",  # long ſ
        # second round: one script, still look-alikes
        "h\u1d0fnest",  # small capital ᴏ
        "hone\ua731t",  # small capital ꜱ
        "\u0251lice",  # IPA ɑ
        "a\u01c0ice",  # a click that looks like l
        "\u0430\u0441\u0435",  # all Cyrillic: асе reads as ace
        "ann\u07c0",  # an NKo digit that looks like 0
    ],
)
def test_a_name_that_reads_as_another_gets_a_hash(look_alike):
    """Red team: these were kept as they are, rows that read "honest" (or "alice", "ace") in
    grades.csv. A name NFKC folds, with an invisible letter, mixing scripts, with an uncommon
    Latin letter or a digit other than 0-9, or made of Cyrillic/Greek letters that look Latin,
    keeps its letters and gets a hash."""
    student = safe_student_id(look_alike)
    assert student.startswith(look_alike + "~"), student
    assert len(set(student_ids(["honest", look_alike]).values())) == 2


@pytest.mark.parametrize(
    "name",
    [
        "Иван",
        "Ελένη",
        "山田たろう",
        "김민준",
        "दीपक",
        "O.Brien",
        "Zoë",
        "Nguyễn",
        "Ștefan",
        "Yıldız",
    ],
)
def test_names_of_one_script_stay_as_they_are(name):
    assert safe_student_id(name) == name

"""Find the (student, lesson) submissions in a folder or an LMS zip.

Accepted layouts (also inside a .zip, also under one wrapping folder):
- ``<student>/<lesson>.ipynb``
- ``<student>/<lesson>/<lesson>.ipynb``
- ``submitted/<student>/<lesson>/<lesson>.ipynb`` (nbgrader's own)

Bad input never stops the class: every student folder is a student (two folder names are
never one id), and a file that is not graded (a symbolic link, not a regular file, too big)
is a Unit with the reason it is ``refused``. Symbolic links are never followed.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

from autograder.course import UsageError
from autograder.notebook_file import MAX_NOTEBOOK_BYTES, size_problem

MAX_UNZIPPED_BYTES = 2 * 2**30  # an LMS export bigger than this is not a class of notebooks
MAX_ID_BYTES = 80  # the readable part of a student id, in UTF-8; a hash may follow
MAX_NAME_BYTES = 255  # of one file name, on the usual file systems
_ID_PUNCTUATION = "_.@+-"
_HASH_SEPARATOR = "~"  # never in a cleaned name: an id with it is "cleaned name ~ hash"
# What a symbolic link or an entry that could not be extracted becomes when a zip is unpacked:
# a link that leads nowhere, whose target says why (find_units gives it as the reason).
UNPACKED_LINK_PREFIX = "/nonexistent/autograder-unpack: "
_LINK_REASON = "is a symbolic link: not graded (links in submissions are never followed)"


@dataclass(frozen=True)
class Unit:
    """One thing to grade: a student's notebook for one lesson (``path`` None if missing).

    ``refused`` is why the file is not graded (its status is then ``invalid``); ``notes``
    go into the unit's result.
    """

    student: str
    lesson: str
    path: Path | None
    refused: str = ""
    notes: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.student}__{self.lesson}"


def name_hash(name: str, length: int = 8) -> str:
    """A stable hex hash of a name (any str, even one holding lone surrogates)."""
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:length]


def _truncate_utf8(text: str, limit: int) -> str:
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


#: marks that change no letter's look (variation selectors, the grapheme joiner, Mongolian
#: and Khmer ones): "honest" with one of them would show as a second "honest"
_INVISIBLE_MARKS = re.compile("[\u034f\u17b4\u17b5\u180b-\u180f\ufe00-\ufe0f\U000e0100-\U000e01ef]")


def _id_chars(name: str) -> str:
    """Letters and digits of any script and ``_.@+-``; a combining mark only after a letter
    of another script than Latin's ASCII (which needs none: NFC has composed those that
    have a letter of their own), never an invisible one; anything else becomes ``_``."""
    out: list[str] = []
    for ch in name:
        if unicodedata.category(ch) in ("Mn", "Mc"):
            after_letter = bool(out) and out[-1] != "_" and not out[-1].isascii()
            keep = after_letter and not _INVISIBLE_MARKS.match(ch)
        else:
            keep = ch.isalnum() or ch in _ID_PUNCTUATION
        out.append(ch if keep else "_")
    return "".join(out)


#: letters that show as nothing (Hangul fillers): "honest" + one of them looks like "honest"
_INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")
#: scripts that one name may mix (Japanese writes kanji with kana; Korean, hangul with hanja)
_EAST_ASIAN = frozenset({"CJK", "HIRAGANA", "KATAKANA", "HANGUL", "KATAKANA-HIRAGANA"})


def _script(ch: str) -> str | None:
    """A letter's script, as the first word of its Unicode name (LATIN, CYRILLIC, ...)."""
    if not ch.isalpha():
        return None
    word = unicodedata.name(ch, "UNKNOWN").split(" ")[0]
    return "EAST ASIAN" if word in _EAST_ASIAN else word


#: Cyrillic and Greek letters that look like Latin ones: a name made of them only
#: ("асе") reads as a Latin one ("ace")
_LATIN_LOOK_ALIKES = frozenset("аеорсухіјѕһԁԛԝѵАВЕКМНОРСТХІЈЅԌԚԜαβεικνορτυχΑΒΕΖΗΙΚΜΝΟΡΤΥΧ")
#: clicks that look like l, | and ! (Latin Extended-B)
_LATIN_ODD = frozenset("\u01c0\u01c1\u01c2\u01c3")


def _odd_latin(ch: str) -> bool:
    """A Latin letter outside the alphabets names are written in (Latin-1, Extended-A and
    -B, Vietnamese's): small capitals ᴏ ꜱ ʜ, IPA ɑ, clicks ǀ look like other letters."""
    code = ord(ch)
    common = code < 0x250 or 0x1E00 <= code < 0x1F00
    return _script(ch) == "LATIN" and (not common or ch in _LATIN_ODD)


def _looks_like_another(name: str) -> bool:
    """Whether ``name`` could show as another student's: letters that NFKC folds into other
    ones (fullwidth ｈ, mathematical 𝗁, long ſ), invisible letters, letters of two scripts
    (Cyrillic о among Latin ones), uncommon Latin letters (small capitals), a name made only
    of Cyrillic or Greek letters that look Latin, digits other than 0-9 (red team). Such a
    name keeps its letters and gets a hash, so that the rows differ where people read them."""
    if unicodedata.normalize("NFKC", name) != name or _INVISIBLE_LETTERS & set(name):
        return True
    if any(_odd_latin(ch) or (ch.isdigit() and not ch.isascii()) for ch in name):
        return True
    letters = [ch for ch in name if ch.isalpha()]
    if letters and all(ch in _LATIN_LOOK_ALIKES for ch in letters):
        return True
    return len({script for ch in name if (script := _script(ch))}) > 1


def safe_student_id(name: str, hash_length: int = 8) -> str:
    """A student id nbgrader, file systems and spreadsheets accept, readable, in any script.

    Letters and digits of any script and ``_.@+-`` are kept, anything else becomes ``_``;
    at most MAX_ID_BYTES of it are kept. When that changed the name at all, or the name could
    show as another (``_looks_like_another``), ``~`` and a hash of the original name follow,
    so that two distinct names never give the same id nor two ids that read alike.
    """
    cleaned = _id_chars(unicodedata.normalize("NFC", name.strip()))
    cleaned = cleaned.lstrip("._-+@").rstrip("._")
    cleaned = _truncate_utf8(cleaned, MAX_ID_BYTES).rstrip("._")
    if cleaned and cleaned == name and not _looks_like_another(cleaned):
        return cleaned
    return f"{cleaned or 'student'}{_HASH_SEPARATOR}{name_hash(name, hash_length)}"


def student_ids(names: list[str]) -> dict[str, str]:
    """{folder name: student id}, distinct ids for distinct names (never raises)."""
    ids = {name: safe_student_id(name) for name in names}
    counts: dict[str, int] = {}
    for student in ids.values():
        counts[student] = counts.get(student, 0) + 1
    for name, student in ids.items():
        if counts[student] > 1:  # two short hashes met: the full hash tells them apart
            ids[name] = safe_student_id(name, hash_length=64)
    return ids


def digest(path: Path) -> str:
    """sha256 of a file's bytes, read in chunks; of a symbolic link's target (never followed);
    of the kind of anything else. Tells when a unit needs grading again."""
    h = hashlib.sha256()
    try:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            h.update(b"symlink\0" + os.fsencode(os.readlink(path)))
        elif stat.S_ISREG(info.st_mode):
            with open(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK), "rb") as f:
                while chunk := f.read(2**20):
                    h.update(chunk)
        else:
            h.update(f"mode {stat.S_IFMT(info.st_mode)}".encode())
    except OSError as exc:
        h.update(f"unreadable {exc.errno}".encode())
    return h.hexdigest()


def _fit_name(part: str) -> str:
    """A file name of at most MAX_NAME_BYTES: a longer one is shortened, with a hash."""
    if len(part.encode("utf-8", "surrogatepass")) <= MAX_NAME_BYTES:
        return part
    return f"{_truncate_utf8(part, MAX_ID_BYTES)}{_HASH_SEPARATOR}{name_hash(part)}"


def _placeholder(target: Path, reason: str) -> None:
    """A link to nowhere in place of an entry that is not extracted; its target says why."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(target):
        return
    text = " ".join(reason.replace("\0", " ").split())[:300]
    os.symlink(UNPACKED_LINK_PREFIX + text, target)


def _extract(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> None:
    if stat.S_ISLNK(info.external_attr >> 16):
        _placeholder(target, "it was a symbolic link in the zip: not extracted, not graded")
        return
    problem = size_problem(info.file_size)
    if problem:  # not extracted: no notebook may be this big
        _placeholder(target, problem)
        return
    if info.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with zf.open(info) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, 2**20)
    except Exception as exc:  # a bad entry (CRC, encrypted, ...) is one student's problem
        target.unlink(missing_ok=True)
        _placeholder(target, f"the zip entry could not be extracted ({type(exc).__name__})")


def _entry_parts(filename: str) -> list[str]:
    """The folders and file name of a zip entry (``.`` parts, as some tools write
    ``./ann/x``, left out); none when the name starts at the root or holds a '..' part.
    Such a name is never an LMS export's: ``mallory/../ann/x`` would put mallory's file in
    ann's folder, or a file beside the student folders."""
    parts = filename.split("/")
    if filename.startswith("/") or ".." in parts:
        return []
    return [part for part in parts if part not in ("", ".")]


def unpack(archive: Path, into: Path) -> Path:
    """Extract an LMS zip safely (no paths outside ``into``, no entry named through '..',
    the first of two entries of one name, bounded size); return ``into``.

    Symbolic links, entries too big for a notebook and entries that fail to extract become
    links to nowhere that say why (see UNPACKED_LINK_PREFIX); file names are kept short.
    """
    if not zipfile.is_zipfile(archive):
        raise UsageError(f"{archive}: not a readable zip file")
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            total = sum(i.file_size for i in infos if i.file_size <= MAX_NOTEBOOK_BYTES)
            if total > MAX_UNZIPPED_BYTES:
                raise UsageError(f"{archive}: unpacks to {total / 2**30:.1f} GiB; refusing")
            into.mkdir(parents=True, exist_ok=True)
            root = into.resolve()
            for info in infos:
                parts = _entry_parts(info.filename)
                if not parts:
                    continue  # '..', '.' or from the root: it could land in another's folder
                target = (root / "/".join(_fit_name(part) for part in parts)).resolve()
                if root not in target.parents:
                    continue  # an entry that would land outside (or through a link): skip it
                if os.path.lexists(target) and not info.is_dir():
                    continue  # a second entry of one name: the first one stays
                try:
                    _extract(zf, info, target)
                except OSError:
                    continue  # e.g. a file where a folder must go: the rest is unpacked
    except (zipfile.BadZipFile, OSError) as exc:
        raise UsageError(f"{archive}: cannot unpack ({exc})") from None
    return into


def _is_real_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _is_real_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


#: files of an nbgrader course folder: a student's submission is a folder, never one of these
_NBGRADER_FILES = ("nbgrader_config.py", "gradebook.db")


def _students_root(root: Path, lessons: list[str]) -> Path:
    """The folder whose sub-folders are the students.

    nbgrader's layout (``submitted/<student>/<lesson>/``) only where ``submitted`` is the
    only folder, or the course's own files are beside it: else ``submitted`` is the folder
    of a student of that name, one among the others, and cannot hide them.
    """
    entries = [p for p in root.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    dirs = [p for p in entries if _is_real_dir(p)]
    if _is_real_dir(root / "submitted") and (
        len(dirs) == 1 or any(_is_real_file(root / name) for name in _NBGRADER_FILES)
    ):
        return root / "submitted"
    # one wrapping folder (as zips often have) that itself holds student folders
    if len(dirs) == 1 and not any(_candidates(dirs[0], lesson, root) for lesson in lessons):
        return _students_root(dirs[0], lessons)
    return root


def _problem(path: Path, base: Path) -> str | None:
    """None when nothing is at ``path``, "" for a notebook to grade, else why it is not graded."""
    shown = repr(str(path.relative_to(base)))
    try:
        info = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        return f"{shown} cannot be read ({exc.strerror}): not graded"
    if stat.S_ISLNK(info.st_mode):
        target = os.readlink(path)
        if target.startswith(UNPACKED_LINK_PREFIX):
            return f"{shown}: {target.removeprefix(UNPACKED_LINK_PREFIX)}"
        return f"{shown} {_LINK_REASON}"
    if stat.S_ISDIR(info.st_mode):
        return f"{shown} is a folder, not a notebook file: not graded"
    if not stat.S_ISREG(info.st_mode):
        return f"{shown} is not a regular file: not graded"
    size = size_problem(info.st_size)
    return f"{shown}: {size}" if size else ""


def _candidates(student_dir: Path, lesson: str, base: Path) -> list[tuple[Path, str]]:
    """The student's files for the lesson, in the order of preference, with their problems."""
    found = []
    flat = student_dir / f"{lesson}.ipynb"
    folder = student_dir / lesson
    for path in (flat, folder if folder.is_symlink() else folder / f"{lesson}.ipynb"):
        problem = _problem(path, base)
        if problem is not None:
            found.append((path, problem))
    return found


def _unit(student: str, lesson: str, student_dir: Path, base: Path) -> Unit:
    found = _candidates(student_dir, lesson, base)
    if not found:
        return Unit(student, lesson, None)
    path, problem = next(((p, why) for p, why in found if not why), found[0])
    notes: tuple[str, ...] = ()
    if len(found) > 1:
        names = " and ".join(repr(str(p.relative_to(base))) for p, _ in found)
        notes = (f"two files for this lesson, {names}: {str(path.relative_to(base))!r} is graded",)
    return Unit(student, lesson, path, problem, notes)


def _is_student(path: Path) -> bool:
    if path.name.startswith((".", "__MACOSX")):
        return False
    # a link (to a folder, or to nowhere as zips' links are unpacked) is a student, refused
    return path.is_dir() or (path.is_symlink() and not path.exists())


def find_units(root: Path, lessons: list[str], students: list[str] | None = None) -> list[Unit]:
    """Every (student, lesson) pair to grade, sorted; a missing notebook is a Unit with no path.

    ``students`` restricts the students (their folder names or safe ids).
    """
    if not root.is_dir():
        raise UsageError(f"{root}: no such folder")
    base = _students_root(root, lessons)
    folders = sorted(p for p in base.iterdir() if _is_student(p))
    if not folders:
        raise UsageError(f"{root}: no student folders found")
    ids = student_ids([p.name for p in folders])
    if students:
        known = set(ids) | set(ids.values())
        unknown = [s for s in students if s not in known and safe_student_id(s) not in known]
        if unknown:
            raise UsageError(f"no submissions from {', '.join(unknown)} in {root}")
    units = []
    for student_dir in folders:
        student = ids[student_dir.name]
        if students and not {student, student_dir.name} & set(students):
            continue
        if student_dir.is_symlink():
            problem = _problem(student_dir, base) or f"{student_dir.name!r} {_LINK_REASON}"
            units += [Unit(student, lesson, student_dir, problem) for lesson in lessons]
            continue
        units += [_unit(student, lesson, student_dir, base) for lesson in lessons]
    return units

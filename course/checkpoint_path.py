"""Checkpoint paths: what a learner passes as a file path, checked before any file is read or written.

Every way a path can be wrong gets an error that names it and the fix: not a path at all, a NUL character, too
long, ending in a separator, a '~' nothing expands, a folder, a pipe or a device, a missing file or folder, a
folder you may not enter, a file you may not read or write.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


def as_path(path: object, hint: str = "") -> Path:
    """``path`` as a ``Path``; a ``TypeError`` naming the fix for anything else (None, bytes, a number), then ``hint``;
    a clear error for a path no file can have (a NUL, too long, ending in a separator) or the system refuses."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"path should be a file path such as 'checkpoint.pt' (a str or Path), got {type(path).__name__}.{hint}"
        )
    text = str(os.fspath(path))
    if "\0" in text:
        raise ValueError(f"the path {text!r:.80} holds a NUL character ('\\x00'), which no file name may: remove it.")
    linked = False
    try:
        os.lstat(text)
        linked = True  # the link itself is there: its target, a folder of which may be shut, is looked at next
        os.stat(text)
    except PermissionError as exc:
        shown = Path(os.path.realpath(text) if linked else text)  # a link: the folders of its target are named
        error = refused(shown, "use") or PermissionError(f"cannot use the path '{shown}': {exc.strerror}.")
        raise (PermissionError(f"'{text}' is a symbolic link, and {error}") if linked else error) from None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise OSError(exc.errno, _too_long(text)) from None
    if text.endswith((os.sep, os.altsep or os.sep)) and not Path(text).is_dir():
        if Path(bare := text.rstrip(os.sep + (os.altsep or ""))).is_file():
            raise ValueError(f"'{text}' ends in '{text[-1]}', but '{Path(bare).name}' is a file, not a folder: "
                             f"drop the trailing '{text[-1]}', e.g. '{bare}'.")  # fmt: skip
        raise ValueError(f"'{text}' ends in '{text[-1]}', so it names a folder, not a file: give a file name, e.g. "
                         f"'{text}epoch1.pt'.")  # fmt: skip
    return Path(path)


def _too_long(text: str) -> str:
    """Why the system finds ``text`` too long: one name over 255 bytes, or the whole path over its limit."""
    name = max(Path(text).parts or [text], key=lambda part: len(os.fsencode(part)))
    if (size := len(os.fsencode(name))) > 255:
        return (f"the name '{name:.60}...' is too long for the system: it has {size} bytes, and a name may have at "
                "most 255 bytes. Choose a shorter name.")  # fmt: skip
    return (f"the path '{text:.60}...' is too long for the system: it has {len(os.fsencode(text))} bytes in all, "
            "more than the system allows for a whole path. Choose a shorter path, e.g. in a folder nearer the "
            "root.")  # fmt: skip


def unexpanded(path: str | os.PathLike) -> str:
    """The fix for a path that starts with '~', which no file function expands ('' for other paths, and where a
    folder really named so exists)."""
    path = Path(path)
    first = path.parts[0] if path.parts else ""
    if not first.startswith("~") or Path(first).is_dir() or len(path.parts) == 1 or _no_home(first):
        return ""  # ~backup.pt is a file's name; ~nobody/ names no user's home
    return (
        f" '~' is not expanded here (nor by open() or torch.save): it would mean a folder named '{path.parts[0]}'. "
        f"For your home folder, pass Path('{path}').expanduser()."
    )


def _no_home(first: str) -> bool:
    """Whether ``~`` or ``~user`` names no home folder that expanduser() would find."""
    try:
        return Path(first).expanduser() == Path(first)
    except RuntimeError:  # "Could not determine home directory"
        return True


def refused(path: Path, verb: str, denied: bool = False) -> PermissionError | None:
    """The error for a path the system refused (``denied``, or where ``verb`` is "use"): a folder the path names that
    you may not enter, a file you may not read, a folder you may not write in; and, before any refusal, an existing
    file you may not write (renaming a new file over it would ignore that). None where it lets you."""
    failed = denied or verb == "use"  # only a refusal the system made is explained, never one above the working folder
    shut = next((f for f in reversed(path.parents) if failed and os.path.isdir(f) and not os.access(f, os.X_OK)), None)
    if shut is not None:
        shut = os.path.abspath(shut)
        why, fix = f"you may not enter the folder '{shut}' (it lacks execute permission)", f"os.chmod('{shut}', 0o755)"
    elif verb == "read" and denied:
        why, fix = "you may not read the file", f"os.chmod('{path}', 0o644) (chmod u+r in a shell)"
    elif verb == "write" and path.exists() and not os.access(path, os.W_OK):
        return PermissionError(
            f"cannot write the checkpoint '{path.name}' in '{path.parent}': the file is read-only (protected, say, as "
            "a best model to keep), so it was left as it is. Save to another path, or make it writable first, "
            f"os.chmod('{path}', 0o644) (chmod u+w in a shell)."
        )
    elif verb == "write" and denied and os.path.isdir(path.parent) and not os.access(path.parent, os.W_OK):
        why, fix = f"you may not write in the folder '{path.parent}'", f"os.chmod('{path.parent}', 0o755)"
    else:
        return None
    return PermissionError(
        f"cannot {verb} the checkpoint '{path}': {why}. If it is yours, {fix}; else use another path."
    )


def read_only(path: str | os.PathLike) -> PermissionError | None:
    """The error for an existing file that may not be written; renaming a new file over it would ignore that."""
    return refused(Path(path), "write")


_SPECIAL = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"))


def checked_file(path: object, verb: str) -> Path:
    """``path`` as a ``Path`` to a file (not a folder, pipe or device) to read or write; a clear error otherwise.
    A symbolic link is written through, as ``open()`` does: its target gets the new file, the link stays."""
    given = as_path(path)
    path = Path(os.path.realpath(given)) if verb == "write" and given.is_symlink() else given
    if path.is_dir():
        raise IsADirectoryError(f"cannot {verb} '{path}': it is a folder. Pass a file's path, e.g. '{path / 'x.pt'}'.")
    if path.exists() and not path.is_file():  # never replaced by a file, nor read (a pipe would block)
        kind = next((name for test, name in _SPECIAL if test(path.stat().st_mode)), "a device")
        raise ValueError(
            f"cannot {verb} the checkpoint '{given.name}': '{path}' is {kind}, not a file, so it was left as it is. "
            f"{'Save to' if verb == 'write' else 'Load from'} a file's path, e.g. '{given.with_name('checkpoint.pt')}'."
        )
    if verb == "read" and not path.is_file():
        raise FileNotFoundError(f"cannot read '{path}': there is no such file.{unexpanded(path) or ' Check the path.'}")
    if (error := refused(path, verb)) is not None:
        raise error
    return path


def save_path(path: str | os.PathLike) -> Path:
    """``path`` as the file a checkpoint is saved to: in an existing folder, not itself a folder."""
    path = as_path(path)
    if (blocker := next((p for p in path.parents if p.exists()), None)) is not None and not blocker.is_dir():
        raise NotADirectoryError(f"cannot save the checkpoint to '{path}': '{blocker}' is a file, not a folder, so "
                                 f"nothing can be saved inside it. Choose a path in a folder, e.g. "
                                 f"'{blocker.with_name(path.name)}'.")  # fmt: skip
    if not path.parent.is_dir():
        missing = f"cannot save the checkpoint to '{path}': the folder '{path.parent}' does not exist."
        create = (f" Create it first with Path('{path.parent}').mkdir(parents=True, exist_ok=True), "
                  "or choose a path in an existing folder.")  # fmt: skip
        raise FileNotFoundError(missing + (unexpanded(path) or create))
    if path.is_dir():
        raise IsADirectoryError(f"'{path}' is a folder; pass a file path for the checkpoint, e.g. "
                                f"'{path / 'checkpoint.pt'}'.")  # fmt: skip
    return path

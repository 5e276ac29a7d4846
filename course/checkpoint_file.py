"""The checkpoint file format: torch.save's archive, sealed with a checksum, written atomically.

The file is what ``torch.save`` writes (a zip archive, so ``torch.load(path, weights_only=True)``
reads it as usual), with the SHA-256 of all its other bytes in the archive's comment.
:func:`read_sealed` recomputes the checksum before unpickling anything, so a damaged, truncated or
foreign file is refused with one clear message. :func:`write_sealed` writes a file with no name
(or, where the system cannot, a hidden temporary one) and renames it into place, so an interrupted
save leaves the previous file as it was and no temporary file behind.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import os
import pickle
import secrets
from collections.abc import Mapping
from pathlib import Path

import torch

from course.checkpoint_path import checked_file, refused, unexpanded

SEAL = b"course-checkpoint 1 sha256:"
_DIGEST = 64  # hex characters of a SHA-256
_END = b"PK\x05\x06"  # a zip archive's end-of-central-directory record: 22 bytes, then the comment

_PLAIN = (
    "A checkpoint holds only tensors, numbers, strings, and lists, tuples and dicts of them: convert the rest, "
    "e.g. float(x) for a NumPy number and x.tolist() for an array; leave out functions and other objects."
)
_SCALARS = (str, bytes, int, float, complex, bool, type(None))  # exactly these: a NumPy float is not a float here


class CheckpointError(ValueError):
    """A file that is not a course checkpoint or is damaged, or a checkpoint that does not fit what it is loaded into."""


def _seal(archive: bytes) -> bytes:
    """Put the checksum of the archive (its comment length and the seal's prefix included) into its comment."""
    if archive[-22:-18] != _END or archive[-2:] != b"\0\0":
        raise RuntimeError("torch.save wrote an archive without the expected end record; cannot seal it.")
    head = archive[:-2] + (len(SEAL) + _DIGEST).to_bytes(2, "little") + SEAL
    return head + hashlib.sha256(head).hexdigest().encode()


def damaged(path: str | os.PathLike, why: str) -> CheckpointError:
    """The error for a file that is not a course checkpoint or is damaged: names the file (not its folder) and why.

    Example:
        >>> print(damaged(Path("run.pt"), "it is empty"))  # doctest: +NORMALIZE_WHITESPACE
        'run.pt' is not a course checkpoint, or damaged: it is empty. Nothing was loaded. ...
    """
    return CheckpointError(
        f"'{Path(path).name}' is not a course checkpoint, or damaged: {why}. Nothing was loaded. Use an earlier "
        "checkpoint or save a new one with save_checkpoint; read files from plain torch.save with torch.load."
    )


def read_sealed(path: Path, entries: Mapping[str, type | tuple[type, ...]] | None = None) -> object:
    """Verify the checksum of the file at ``path``, then load it with ``torch.load(weights_only=True)``.

    Raises :class:`CheckpointError` ("not a course checkpoint, or damaged: ...") for a file
    that is empty, cut short, changed by even one bit, or written by something else; given
    ``entries`` (``{key: type}``), also for one that is no dict holding each key with a value of its type.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "x.pt"
        >>> write_sealed({"epoch": 3}, path)
        >>> read_sealed(path)
        {'epoch': 3}
        >>> _ = path.write_bytes(path.read_bytes()[:-1])
        >>> read_sealed(path)
        Traceback (most recent call last):
        course.checkpoint_file.CheckpointError: 'x.pt' is not a course checkpoint, or damaged: no course checksum ...
    """
    path = checked_file(path, "read")
    try:
        data = path.read_bytes()
    except PermissionError:  # what os.access did not tell (an access control list, say)
        raise refused(path, "read", denied=True) from None
    head, digest = data[:-_DIGEST], data[-_DIGEST:]
    if len(data) < 22 + len(SEAL) + _DIGEST or not head.endswith(SEAL):
        raise damaged(path, f"no course checksum at its end ({len(data)} bytes: empty, cut short, or another format)")
    if hashlib.sha256(head).hexdigest().encode() != digest:
        raise damaged(path, "its SHA-256 checksum does not match its contents")
    try:
        checkpoint = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # the checksum matched, so the writer itself was different (another torch?)
        raise damaged(path, f"torch.load cannot read it ({type(exc).__name__}: {str(exc)[:200]})") from None
    if missing := sorted(set(entries or ()) - set(checkpoint if isinstance(checkpoint, Mapping) else ())):
        raise damaged(path, f"it lacks the keys {missing}")
    if odd := next((key for key, kind in (entries or {}).items() if not isinstance(checkpoint[key], kind)), None):
        raise damaged(path, f"its entry '{odd}' is {type(checkpoint[odd]).__name__}, not what save_checkpoint writes")
    return checkpoint


def _stem(path: Path) -> str:
    """The name part of ``path``'s temporary files: its name, cut to 230 bytes so that with the rest (at most
    '.' + '.<pid>.<8 hex>.tmp', 25 bytes) it stays within the 255 bytes a name may have."""
    stem = path.name
    while len(os.fsencode(stem)) > 230:  # whole characters only
        stem = stem[:-1]
    return stem


def _temporary_name(path: Path) -> Path:
    return path.with_name(f".{_stem(path)}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _remove_stale(path: Path) -> None:
    """Remove temporary files an earlier, killed save of ``path`` left (their process no longer exists)."""
    stem = _stem(path)
    for tmp in path.parent.glob(f".{glob.escape(stem)}.*.tmp"):
        pid = tmp.name[len(stem) + 2 :].split(".")[0]
        with contextlib.suppress(ValueError, OSError):
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                tmp.unlink()


def _write_unnamed(data: bytes, path: Path, folder: int) -> bool:
    """Linux: write a file with no name, then give it one and rename it into place; False where unsupported.

    Until it is complete the file has no name, so a save killed meanwhile leaves nothing behind.
    """
    try:
        fd = os.open(".", os.O_TMPFILE | os.O_WRONLY, 0o644, dir_fd=folder)
    except (AttributeError, OSError):
        return False
    tmp = _temporary_name(path).name
    try:
        _write_all(fd, data)
        os.fsync(fd)
        try:
            os.link(f"/proc/self/fd/{fd}", tmp, dst_dir_fd=folder, follow_symlinks=True)
        except OSError:
            return False  # no /proc: the unnamed file vanishes when closed
        os.replace(tmp, path.name, src_dir_fd=folder, dst_dir_fd=folder)  # named for microseconds only
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=folder)
        raise
    finally:
        os.close(fd)
    return True


def _write_named(data: bytes, path: Path) -> None:
    """Elsewhere: write a hidden temporary file next to ``path``, then rename it into place.

    A process killed meanwhile leaves that file behind; the next save of ``path`` removes it.
    """
    tmp = _temporary_name(path)
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0), 0o644)
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _atomic_write(data: bytes, path: Path) -> None:
    """Write ``data`` to ``path`` in one step: a crash at any moment leaves the old file or the new one."""
    _remove_stale(path)
    try:
        folder = os.open(path.parent, os.O_RDONLY)
    except OSError:  # Windows cannot open folders
        _write_named(data, path)
        return
    try:
        if not _write_unnamed(data, path, folder):
            _write_named(data, path)
        with contextlib.suppress(OSError):
            os.fsync(folder)  # make the rename durable
    finally:
        os.close(folder)


def _write_all(fd: int, data: bytes, chunk: int = 1 << 20) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view[:chunk]) :]


def _odd_value(value: object, where: str) -> str | None:
    """Where in ``value`` the first object sits that is not plain data, e.g. ``['model']['_extra_state']``."""
    if isinstance(value, (torch.Tensor, torch.Size, torch.dtype, torch.device)) or type(value) in _SCALARS:
        return None
    if not isinstance(value, (Mapping, list, tuple)):
        return where or "its top"
    items = value.items() if isinstance(value, Mapping) else enumerate(value)
    return next((found for key, item in items if (found := _odd_value(item, f"{where}[{key!r}]"))), None)


def write_sealed(obj: object, path: Path) -> None:
    """Serialise ``obj`` with ``torch.save``, seal it with its checksum and write it to ``path`` atomically.

    ``torch.load(path, weights_only=True)`` still reads the file; :func:`read_sealed` also verifies it.
    An object that could not be loaded back that way (a NumPy number, a function, any other class)
    is refused with a ``TypeError`` before anything is written.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "x.pt"
        >>> write_sealed({"weights": torch.ones(2)}, path)
        >>> torch.load(path, weights_only=True)
        {'weights': tensor([1., 1.])}
    """
    path = checked_file(path, "write")
    buffer = io.BytesIO()
    try:
        torch.save(obj, buffer)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:  # a lambda, an open file, a lock...
        raise TypeError(f"cannot save this object: {exc}. {_PLAIN}") from None
    buffer.seek(0)
    unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(buffer)
    if unsafe:  # torch.save takes any object, but read_sealed could not load it back: refuse now, not then
        where = _odd_value(obj, "")
        raise TypeError(
            f"cannot save this object: it holds {', '.join(unsafe)}{f' at {where}' if where else ''}, which "
            f"torch.load(weights_only=True) refuses, so the file could never be loaded back. {_PLAIN} "
            "(A custom get_extra_state or state_dict must return only those.)"
        )
    try:
        _atomic_write(_seal(buffer.getvalue()), path)
    except OSError as exc:  # named after the checkpoint, not the temporary file the caller never chose
        if isinstance(exc, PermissionError) and (error := refused(path, "write", denied=True)) is not None:
            raise error from None
        raise type(exc)(
            f"cannot write the checkpoint '{path.name}' in '{path.parent}': {exc.strerror or exc}."
            f"{unexpanded(path) or ' Choose a folder you can write to, with enough free space.'}"
        ) from None

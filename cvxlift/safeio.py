"""The file-system rules of cvxlift's doors: :func:`atomic_write` and :func:`open_regular`.

Every file cvxlift writes (model files, the CLI's predictions and plots) goes through
:func:`atomic_write`, and every file it reads through :func:`open_regular`:

- **Writes are atomic and never go through a link.** The content is written to a new
  temporary file in the target's directory (created with ``O_EXCL``: never an existing
  file or link) and renamed over the target. Renaming replaces a directory *entry*; it
  never writes into what the entry pointed to. The target itself must be absent or a
  regular file: a symbolic link, a directory, a device, a FIFO or a socket at the target is
  refused. Directories *in* the path may be links (the user's own directory layout, such
  as a linked home directory): they are resolved once, when the directory is opened, and
  the file is then created and renamed relative to that open directory, so a directory
  swapped during the write cannot redirect it.
- **The temporary name is short** (``.cvxlift-<12 hex digits>.tmp``), so any target name
  the file system accepts can be written.
- **Reads open regular files only**, without blocking: a FIFO or a device at the path is
  refused instead of hanging or reading a device.
- **Every path problem is one error naming the path**: a NUL byte, an empty name, a name
  or path too long for the file system, a missing directory, no permission.

Both functions take the exception class to raise (a :class:`~cvxlift.CvxliftError`
subclass), so each door reports path problems with its own error class.
"""

import contextlib
import errno
import os
import secrets
import stat

from .exceptions import ValidationError

__all__ = ["atomic_write", "check_path", "check_target", "open_regular", "show_path"]

#: Prefix and suffix of the temporary files :func:`atomic_write` creates.
TEMP_PREFIX, TEMP_SUFFIX = ".cvxlift-", ".tmp"
_DIR_FD = os.name == "posix" and {os.open, os.stat, os.unlink, os.rename} <= os.supports_dir_fd
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)

_REASONS = {
    errno.ENOENT: "no such file or directory",
    errno.ENOTDIR: "a component of the path is not a directory",
    errno.ENAMETOOLONG: "the file name or path is too long for the file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on the device",
    errno.EISDIR: "it is a directory",
    errno.ELOOP: "too many levels of symbolic links",
}


def show_path(path):
    """``path`` as text for a message: plain when printable, else its ``repr``.

    Parameters
    ----------
    path : str
        A path.

    Returns
    -------
    str
        ``path`` itself, or ``repr(path)`` when it holds control characters (such as NUL).
    """
    return path if path.isprintable() else repr(path)


def _reason(exc):
    return _REASONS.get(exc.errno) or exc.strerror or str(exc)


def check_path(path, error=ValidationError, verb="open"):
    """``path`` as a ``str`` file name, or ``error`` naming the problem.

    Parameters
    ----------
    path : str, bytes or os.PathLike
        The path given by the user.
    error : type
        Exception class to raise (called with one message).
    verb : str
        What was attempted, for the message (``"cannot <verb> <path>: ..."``).

    Returns
    -------
    str
        The path; refused when it is not a path, is empty, contains a NUL byte or ends
        with a path separator (it then names a directory, not a file).
    """
    try:
        p = os.fspath(path)
    except TypeError:
        raise error(f"cannot {verb}: the path must be a str or os.PathLike, got {type(path).__name__}") from None
    if isinstance(p, bytes):
        p = os.fsdecode(p)
    if not p:
        raise error(f"cannot {verb}: the path is empty")
    if "\x00" in p:
        raise error(f"cannot {verb} {show_path(p)}: the path contains a NUL byte")
    if p.endswith(os.sep) or (os.altsep and p.endswith(os.altsep)):
        raise error(f"cannot {verb} {show_path(p)}: the path ends with a separator, so it names a directory")
    return p


def _default_mode():
    """0o666 minus the process umask (read from /proc where possible: os.umask is not thread-safe)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o644


def _kind(mode):
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _open_parent(p, fail):
    """``(dir_fd or None, ref, name)``: the target's directory, opened once (POSIX), and its entry name."""
    parent, name = os.path.split(p)
    parent = parent or os.curdir
    if name in (os.curdir, os.pardir):
        fail("the path names a directory")
    dfd = None
    try:
        if _DIR_FD:
            dfd = os.open(parent, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
        elif not os.path.isdir(parent):
            raise FileNotFoundError(errno.ENOENT, "no such directory", parent)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            fail(f"directory {show_path(parent)} does not exist", exc)
        fail(_reason(exc), exc)
    ref = (lambda n: n) if _DIR_FD else (lambda n: os.path.join(parent, n))
    return dfd, ref, name


def _target_mode(dfd, ref, name, fail):
    """Permission bits for the new file: the existing regular file's, or 0o666 minus the umask."""
    try:
        st = os.stat(ref(name), dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return _default_mode()
    except OSError as exc:
        fail(_reason(exc), exc)
    if not stat.S_ISREG(st.st_mode):
        fail(
            f"it is {_kind(st.st_mode)}; cvxlift only creates or replaces regular files "
            "(it never writes through a link or onto a device)"
        )
    return stat.S_IMODE(st.st_mode)


def check_target(path, error=ValidationError, verb="write"):
    """Check now that :func:`atomic_write` would accept ``path`` (before long work).

    Parameters
    ----------
    path : str, bytes or os.PathLike
        The file to be written later.
    error : type
        Exception class for a problem (one message ``"cannot <verb> <path>: <reason>"``).
    verb : str
        What will be done, for the messages.

    Returns
    -------
    str
        The path, when its directory exists and the target is absent or a regular file.
    """
    p = check_path(path, error, verb)

    def fail(reason, exc=None):
        raise error(f"cannot {verb} {show_path(p)}: {reason}") from exc

    dfd, ref, name = _open_parent(p, fail)
    try:
        _target_mode(dfd, ref, name, fail)
    finally:
        if dfd is not None:
            os.close(dfd)
    return p


@contextlib.contextmanager
def atomic_write(path, error=ValidationError, verb="write"):
    """Write a file atomically, never through a link: ``with atomic_write(p) as fh: fh.write(...)``.

    Parameters
    ----------
    path : str, bytes or os.PathLike
        The file to create or replace. Its directory must exist; the target must be absent
        or a regular file (a link, directory, device, FIFO or socket is refused).
    error : type
        Exception class for every path or file-system problem (called with one message
        ``"cannot <verb> <path>: <reason>"``).
    verb : str
        What is being done, for the messages.

    Yields
    ------
    file object
        A binary file open for writing. When the ``with`` block ends normally the data are
        flushed to disk and the file is renamed over ``path``, keeping an existing file's
        permission bits (a new file gets ``0o666`` minus the umask). When it raises, the
        temporary file is removed, ``path`` is untouched and the exception propagates (an
        ``OSError`` is turned into ``error``).
    """
    p = check_path(path, error, verb)
    where = show_path(p)

    def fail(reason, exc=None):
        raise error(f"cannot {verb} {where}: {reason}") from exc

    dfd, ref, name = _open_parent(p, fail)
    tmp = None
    try:
        mode = _target_mode(dfd, ref, name, fail)
        for _ in range(100):
            cand = f"{TEMP_PREFIX}{secrets.token_hex(6)}{TEMP_SUFFIX}"
            try:
                fd = os.open(
                    ref(cand),
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY,
                    0o600,
                    dir_fd=dfd,
                )
            except FileExistsError:
                continue
            tmp = cand
            break
        else:  # pragma: no cover - 100 collisions of 48 random bits
            fail("cannot create a temporary file in its directory")
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
            if hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), mode)
        if not hasattr(os, "fchmod"):  # pragma: no cover - Windows
            os.chmod(ref(tmp), mode)
        if _DIR_FD:
            os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)  # POSIX rename replaces atomically
        else:  # pragma: no cover - Windows
            os.replace(ref(tmp), ref(name))
        tmp = None
        if dfd is not None:
            try:  # make the rename durable; not essential
                os.fsync(dfd)
            except OSError:
                pass
    except BaseException as exc:
        if tmp is not None:
            try:
                os.unlink(ref(tmp), dir_fd=dfd)
            except OSError:
                pass
        if isinstance(exc, OSError):
            fail(_reason(exc), exc)
        raise
    finally:
        if dfd is not None:
            os.close(dfd)


def open_regular(path, error=ValidationError, verb="read"):
    """Open ``path`` for binary reading; only a regular file is accepted.

    Parameters
    ----------
    path : str, bytes or os.PathLike
        The file to read (symbolic links are followed: reading through a link is harmless).
    error : type
        Exception class for every problem (one message ``"cannot <verb> <path>: ..."``).
    verb : str
        What is being done, for the messages.

    Returns
    -------
    file object
        A binary file open for reading. The path is opened without blocking and then
        checked with ``fstat`` (no race between the check and the use): a directory, a
        FIFO, a device or a socket is refused before any byte is read.
    """
    p = check_path(path, error, verb)
    where = show_path(p)
    try:
        fd = os.open(p, os.O_RDONLY | _O_NONBLOCK | _O_CLOEXEC | _O_BINARY)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise error(f"cannot {verb} {where}: no such file") from None
        if exc.errno == errno.EISDIR:  # Windows
            raise error(f"cannot {verb} {where}: it is a directory, not a file") from None
        raise error(f"cannot {verb} {where}: {_reason(exc)}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            what = "a directory, not a file" if stat.S_ISDIR(st.st_mode) else f"{_kind(st.st_mode)}, not a regular file"
            raise error(f"cannot {verb} {where}: it is {what}")
        if _O_NONBLOCK:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise

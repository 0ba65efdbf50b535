"""Safe file output and image reading shared by every package.

Every file the tool writes goes through :func:`atomic_write` (temp file in the same folder, then
``os.replace``) so that a crash, a full disk or Ctrl-C never leaves a half-written output, and
:func:`check_output` refuses to overwrite an existing output unless ``force`` is set.

Images inside edge-deblur are RGB ``uint8`` arrays of shape ``(H, W, 3)``; :func:`read_image`
converts grayscale, RGBA and 16-bit files to that.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from runtime.errors import InputError, OutputExistsError, expected

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def check_output(path: str | os.PathLike, force: bool = False, probe: bool = True) -> Path:
    """Return ``path`` as a Path after checking it may be written.

    Raises OutputExistsError if it exists and ``force`` is false, InputError if its folder cannot
    be created or written. Missing folders are not created here (a command refused later leaves
    none behind): the nearest existing one must be a writable folder, and :func:`atomic_path`
    creates the rest when it writes. ``probe`` creates and removes a temp file in that folder
    (``os.access`` says yes to root on read-only mounts); :func:`atomic_path` skips it, its own
    temp file does the same.
    """
    p = Path(path)
    if p.exists() and not force:
        raise OutputExistsError(f"output {str(p)!r} already exists; pass --force to overwrite it")
    parent = p.parent if str(p.parent) else Path(".")
    existing = parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(
            f"output {str(p)!r}: cannot create folder {str(parent)!r} ({str(existing)!r} is a file)"
        )
    if not os.access(existing, os.W_OK):
        raise InputError(f"output {str(p)!r}: folder {str(existing)!r} is not writable")
    if probe:
        try:  # os.access says yes to root on read-only mounts and /sys: try a real file
            fd, tmp = tempfile.mkstemp(prefix=".edge-deblur-probe.", dir=existing)
            os.close(fd)
            os.unlink(tmp)
        except OSError as e:
            raise write_failed(p, e) from e
    return p


def make_parent(path: str | os.PathLike) -> None:
    """Create the folder ``path`` goes in (after :func:`check_output`, when writing starts)."""
    p = Path(path)
    try:
        (p.parent if str(p.parent) else Path(".")).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise write_failed(p, e) from e


def write_failed(path: str | os.PathLike, err: OSError) -> InputError:
    """The one-line error for an output that could not be written (full disk, permissions)."""
    reason = err.strerror or str(err)
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        advice = "free some space or choose another output"
    elif err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        advice = "choose a location you may write to"
    else:
        advice = "choose another output"
    return InputError(
        f"output {str(path)!r}: expected a writable location, got '{reason}'; "
        f"{advice} (nothing partial was left)"
    )


def chmod_as_created(path: str | os.PathLike, mode: int) -> None:
    """Give ``path`` the permissions a plain ``open()`` (``mode`` 0o666) or ``mkdir()`` (0o777)
    would have given it under the process umask: mkstemp and mkdtemp make 0600 / 0700."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, mode & ~umask)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The temp file keeps the final suffix (so encoders that look at the extension still work). On
    any exception the temp file is removed and ``path`` is untouched.
    """
    final = check_output(path, force=force, probe=False)
    make_parent(final)
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{final.stem}.", suffix=f".tmp{final.suffix}", dir=final.parent or "."
        )
    except OSError as e:  # read-only or special file systems pass os.access for root
        raise write_failed(final, e) from e
    os.close(fd)
    tmp_path = Path(tmp)
    chmod_as_created(tmp_path, 0o666)  # mkstemp makes 0600
    try:
        yield tmp_path
        if not tmp_path.exists() or tmp_path.stat().st_size == 0:
            raise OSError(f"nothing was written to {str(final)!r}")
        os.replace(tmp_path, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


def atomic_write(path: str | os.PathLike, data: bytes | str, force: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically. Returns the final path."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(path, force=force) as tmp:
        with open(tmp, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


def to_rgb8(img: np.ndarray, name: str = "image", bgr: bool = True) -> np.ndarray:
    """Convert a decoded frame (gray, BGR, BGRA; uint8 or uint16 or float) to RGB uint8 HxWx3."""
    import cv2

    if img is None or not isinstance(img, np.ndarray):
        raise InputError(expected(name, "a non-empty image array", type(img).__name__))
    if img.size == 0:
        raise InputError(expected(name, "a non-empty image array", f"shape {img.shape}"))
    a = img
    if a.dtype == np.uint16:
        a = (a.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
    elif a.dtype in (np.float16, np.float32, np.float64):
        if not np.isfinite(a).all():
            raise InputError(expected(name, "finite float pixels in [0, 1]", "NaN or inf values"))
        lo, hi = float(a.min()), float(a.max())
        # Resampling overshoot (-0.01, 1.02) is clipped; a 0-255 float image would turn white.
        if lo < -0.5 or hi > 1.5:
            raise InputError(
                expected(name, "float pixels in [0, 1]", f"values in [{lo:.4g}, {hi:.4g}]")
            )
        a = (np.clip(a, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    elif a.dtype != np.uint8:
        raise InputError(expected(name, "8-bit, 16-bit or float pixels", str(a.dtype)))
    if a.ndim == 2:
        return cv2.cvtColor(a, cv2.COLOR_GRAY2RGB)
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise InputError(expected(name, "an HxW, HxWx3 or HxWx4 image", a.shape))
    if a.shape[2] == 1:
        return cv2.cvtColor(a[:, :, 0], cv2.COLOR_GRAY2RGB)
    if a.shape[2] == 4:
        return cv2.cvtColor(a, cv2.COLOR_BGRA2RGB if bgr else cv2.COLOR_RGBA2RGB)
    return cv2.cvtColor(a, cv2.COLOR_BGR2RGB) if bgr else np.ascontiguousarray(a)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3). Raises InputError naming the file."""
    import cv2

    p = Path(path)
    if not p.is_file():
        raise InputError(f"image {str(p)!r} does not exist or is not a file")
    buf = np.fromfile(str(p), dtype=np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
    if img is None:
        raise InputError(
            f"image {str(p)!r}: expected a readable image ({', '.join(IMAGE_SUFFIXES)}), "
            "could not decode it"
        )
    return to_rgb8(img, name=f"image {str(p)!r}")


def write_image(path: str | os.PathLike, rgb: np.ndarray, force: bool = False) -> Path:
    """Write an RGB uint8 image atomically; the format follows the suffix."""
    import cv2

    p = Path(path)
    suffix = p.suffix.lower() or ".png"
    try:
        ok, enc = cv2.imencode(suffix, cv2.cvtColor(to_rgb8(rgb, bgr=False), cv2.COLOR_RGB2BGR))
    except cv2.error:  # OpenCV raises, rather than returning False, for an unknown suffix
        ok = False
    if not ok:
        raise InputError(expected(f"output {str(p)!r}", "an image suffix OpenCV can write", suffix))
    return atomic_write(p, enc.tobytes(), force=force)


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly in ``folder``, sorted by name (non-images are ignored)."""
    f = Path(folder)
    if not f.is_dir():
        raise InputError(f"folder {str(f)!r} does not exist or is not a folder")
    return sorted(p for p in f.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)

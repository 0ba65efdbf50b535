"""Fixtures shared by every test package."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def corrupt_frame():
    """``corrupt_frame(path, index)`` overwrites the JPEG of frame ``index`` of an MJPG .avi with
    zeros (up to the AVI chunk header of the next frame, or to its end-of-image marker), so that
    frame cannot be decoded and the frames around it still can."""

    def corrupt(path: Path, index: int) -> None:
        data = bytearray(path.read_bytes())
        starts = [m for m in range(len(data) - 2) if data[m : m + 3] == b"\xff\xd8\xff"]
        s = starts[index]
        if index + 1 < len(starts):
            end = starts[index + 1] - 16
        else:  # the last frame: up to its end-of-image marker
            eoi = data.find(b"\xff\xd9", s)
            end = eoi + 2 if eoi > 0 else s + 200
        data[s:end] = bytes(end - s)
        path.write_bytes(bytes(data))

    return corrupt

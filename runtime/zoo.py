"""Bundled models: resolve ``--model`` given as a path or as a name listed in ``zoo/zoo.yaml``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from runtime.errors import InputError, ModelError, expected

ZOO_DIR = Path(__file__).resolve().parent / "zoo"


@dataclass(frozen=True)
class ZooEntry:
    """One bundled model: ``name`` for ``--model``, its file, a description, recommended or not."""

    name: str
    path: Path
    description: str
    recommended: bool


def list_models(zoo_dir: str | os.PathLike | None = None) -> list[ZooEntry]:
    """The models listed in ``zoo.yaml`` (empty when the zoo ships none)."""
    import yaml

    folder = Path(zoo_dir) if zoo_dir is not None else ZOO_DIR
    index = folder / "zoo.yaml"
    if not index.is_file():
        return []
    try:
        doc = yaml.safe_load(index.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        first = str(e).splitlines()[0] if str(e) else "parse error"
        raise ModelError(
            f"model zoo {str(index)!r}: expected valid YAML, got a parse error ({first})"
        ) from e
    items = doc.get("models") or [] if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise ModelError(
            expected(f"model zoo {str(index)!r}", "a 'models:' list", type(doc).__name__)
        )
    out = []
    for item in items:
        if not isinstance(item, dict) or not {"name", "file"} <= set(item):
            raise ModelError(expected(f"model zoo {str(index)!r} entry", "name and file", item))
        out.append(
            ZooEntry(
                name=str(item["name"]),
                path=folder / str(item["file"]),
                description=str(item.get("description", "")),
                recommended=bool(item.get("recommended", False)),
            )
        )
    return out


def resolve_model(
    name_or_path: str | os.PathLike,
    zoo_dir: str | os.PathLike | None = None,
    what: str = "--model",
) -> Path:
    """Return the ``.tflite`` path for a file path or a bundled name (``default``: the recommended).

    Raises InputError naming ``what`` (the option or argument) and the bundled models when the
    name is neither a file nor in the zoo.
    """
    if not isinstance(name_or_path, (str, os.PathLike)) or not str(name_or_path).strip():
        raise InputError(expected(what, "a .tflite file or a bundled model name", name_or_path))
    p = Path(name_or_path)
    if p.is_file():
        return p
    text = str(name_or_path)
    entries = list_models(zoo_dir)
    names = [e.name for e in entries]
    valid = ", ".join(["default", *names]) if names else "none bundled yet"
    looks_like_path = p.suffix.lower() == ".tflite" or os.sep in text or "/" in text
    if not looks_like_path:
        entry = None
        if text == "default" and entries:
            entry = next((e for e in entries if e.recommended), entries[0])
        else:
            entry = next((e for e in entries if e.name == text), None)
        if entry is not None:
            if not entry.path.is_file():
                raise ModelError(
                    f"model {text!r}: its bundled file {str(entry.path)!r} is missing; "
                    "reinstall edge-deblur"
                )
            return entry.path
    raise InputError(
        expected(
            what,
            f"an existing .tflite file or a bundled model name ({valid})",
            text,
            "check the path, or run `edge-deblur models` to list the bundled ones",
        )
    )

"""YAML read with the line of every value kept, so a validation error can say where in the file it is.

PyYAML's composer already knows each node's position; :func:`load_marked` builds plain Python data from the
node tree and, beside it, a table from each value's path (mapping keys and list indices) to its line. A
pydantic error's ``loc`` is such a path (plus, sometimes, a union member's tag): :meth:`Marks.line_of` finds
the deepest part of it that the file spelled out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]


class MarkedYAMLError(ValueError):
    """The text is not YAML at all; ``line`` (1-based) is where the parser gave up."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


@dataclass
class Marks:
    lines: dict[Path, int] = field(default_factory=dict)
    """path -> 1-based line of the value (for a mapping entry, the line of its key)."""

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """The line of the deepest part of ``loc`` the file spells out. Parts the file does not hold are skipped:
        a union member's tag pydantic puts in (``poisson``), or the missing field itself."""
        return self.lines.get(self.found(loc))

    def found(self, loc: Sequence[str | int]) -> Path:
        path: Path = ()
        for part in loc:
            if (*path, part) in self.lines:
                path = (*path, part)
        return path

    def describe(self, loc: Sequence[str | int]) -> str:
        """``loc`` as the user wrote it: the parts found in the file, then the missing last one if any."""
        path: list[str | int] = list(self.found(loc))
        if loc and (not path or path[-1] != loc[-1]):
            path.append(loc[-1])
        return ".".join(str(p) for p in path)


def load_marked(text: str) -> tuple[Any, Marks]:
    """Parse one YAML document; returns its data (None if empty) and the line of every value."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise MarkedYAMLError(f"not valid YAML: {exc}", line) from exc
    marks = Marks()
    if node is None:
        return None, marks
    constructor = yaml.SafeLoader("")
    return _build(node, (), marks, constructor), marks


def _build(node: yaml.Node, path: Path, marks: Marks, constructor: yaml.SafeLoader) -> Any:
    marks.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        constructor.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node, deep=True)
            marks.lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = _build(value_node, (*path, key), marks, constructor)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), marks, constructor) for i, item in enumerate(node.value)]
    return constructor.construct_object(node, deep=True)

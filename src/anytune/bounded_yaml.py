"""YAML from users, read within limits: a file size, a nesting depth and a node count that alias expansion
cannot blow past (a "billion laughs" spec is refused at once, not after gigabytes), each refusal one
ConfigError naming the file.

    data, root = load(text, source="job.yaml")   # root: the composed node tree (for line numbers)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import ConfigError

MAX_BYTES = 1 << 20  # a job spec or a profile is a few KB; 1 MiB is already absurd
MAX_DEPTH = 64
MAX_NODES = 100_000  # after alias expansion


def read(path: Path, what: str = "file") -> str:
    """The text of ``path``, refusing anything but a regular file of at most MAX_BYTES."""
    try:
        if not path.is_file():
            kind = "folder" if path.is_dir() else "special file (a device or a pipe)" if path.exists() else None
            if kind is None:
                raise FileNotFoundError(path)
            raise ConfigError(f"{path}: is a {kind}, not a {what}")
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except (ConfigError, FileNotFoundError):
        raise
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_BYTES // 1024} KiB; a {what} this big is not one")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def load(text: str, source: str) -> tuple[Any, Any]:
    """(the data, the composed root node or None). Raises ConfigError for YAML that is invalid, nested
    deeper than MAX_DEPTH or expanding to more than MAX_NODES nodes."""
    import yaml

    if len(text) > MAX_BYTES:
        raise ConfigError(f"{source}: larger than {MAX_BYTES // 1024} KiB")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise ConfigError(f"{source}: nested deeper than {MAX_DEPTH} levels") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise ConfigError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if root is None:
        return None, None
    _check_size(root, source)
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(root), root
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise ConfigError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    finally:
        loader.dispose()


def _check_size(root: Any, source: str) -> None:
    import yaml

    stack, count = [(root, 1)], 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH:
            raise ConfigError(f"{source}:{node.start_mark.line + 1}: nested deeper than {MAX_DEPTH} levels")
        if count > MAX_NODES:
            raise ConfigError(f"{source}: expands to more than {MAX_NODES:,} values (aliases that repeat "
                              "aliases: a YAML bomb?); write the values out instead")
        if isinstance(node, yaml.MappingNode):
            stack += [(n, depth + 1) for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            stack += [(n, depth + 1) for n in node.value]

"""For each provider's error tests: every exception class an SDK defines must come out of the provider's
``translate()`` as an anytune error, so an SDK upgrade that adds a class nobody mapped fails a test
instead of reaching a user as a traceback.

    def test_every_sdk_exception_is_mapped():
        assert unmapped(translate, SDK_ERROR_MODULES) == []
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable

from ..errors import AnytuneError


def exception_classes(modules: Iterable[str]) -> dict[str, type[BaseException]]:
    """Public exception classes defined in ``modules`` or their submodules (as the package re-exports them),
    warnings left out: "module.Class" -> class."""
    found: dict[str, type[BaseException]] = {}
    for name in modules:
        module = importlib.import_module(name)
        for attr, obj in list(vars(module).items()):
            if (inspect.isclass(obj) and issubclass(obj, Exception) and not issubclass(obj, Warning)
                    and not attr.startswith("_") and f"{obj.__module__}.".startswith(f"{name}.")):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return found


def instance(cls: type[BaseException]) -> BaseException:
    """An instance of ``cls`` as an SDK could raise it; classes whose constructor wants more than a message
    are made without running it (their translators read such attributes with defaults)."""
    for args in (("boom",), ("boom", None)):
        try:
            return cls(*args)
        except Exception:  # noqa: S112 - try the next form
            continue
    exc = cls.__new__(cls)
    BaseException.__init__(exc, "boom")
    return exc


def unmapped(translate: Callable, modules: Iterable[str],
             make: Callable[[type[BaseException]], BaseException] = instance) -> list[str]:
    """The classes of ``modules`` that ``translate("op")`` lets through, each as "module.Class: what came out".
    ``make`` builds an instance the way the SDK would where ``instance`` cannot (e.g. a botocore ClientError
    always carries its response)."""
    left = []
    for name, cls in sorted(exception_classes(modules).items()):
        exc = make(cls)
        try:
            with translate("op"):
                raise exc
        except AnytuneError:
            continue
        except BaseException as other:  # noqa: BLE001 - reported, whatever it is
            left.append(f"{name}: {type(other).__name__}: {str(other)[:100]}")
    return left

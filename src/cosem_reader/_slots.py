"""Fast constructors for the frozen, slotted value objects made once per push or frame.

A frozen dataclass' ``__init__`` sets each field with ``object.__setattr__``, which
costs about twice what setting the slot through its descriptor does.  The decode
path makes a dozen such objects per push (a :class:`~cosem_reader.cosem.readings.Reading`
per value, the frames, the ciphered APDU, the notification), so it builds them
with :func:`frozen_constructor`; the objects are ordinary instances of their class,
equal, hashable and immutable as ever.

Faster still than the descriptors: the fields are set on an instance of a plain
twin class with the same slots (where the interpreter stores each in a few
instructions), and the finished instance then becomes one of the frozen class by
assigning ``__class__``, which Python allows between classes of the same layout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, is_dataclass
from typing import Any, TypeVar

__all__ = ["frozen_constructor"]

T = TypeVar("T")


def frozen_constructor(cls: type[T]) -> Callable[..., T]:
    """``make(field1, field2, …)``: an instance of the frozen, slotted dataclass ``cls``.

    Every field is passed, positionally, in declaration order; there are no defaults
    and no ``__post_init__`` runs, so it is only for classes that have none.
    """
    if not is_dataclass(cls) or "__slots__" not in vars(cls):
        raise TypeError(f"{cls.__name__} is not a slotted dataclass")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has a __post_init__ that this constructor would skip")
    names = [field.name for field in fields(cls)]
    make = _twin_constructor(cls, names)
    if make is None:
        make = _descriptor_constructor(cls, names)
    make.__qualname__ = f"frozen_constructor.<{cls.__name__}>"
    return make


def _twin_constructor(cls: type[T], names: list[str]) -> Callable[..., T] | None:
    """Sets the fields on a mutable twin of ``cls``, then makes the instance a ``cls``;
    None where Python would not allow the switch (another layout, a slotted base)."""
    twin = type(f"_{cls.__name__}Fields", (), {"__slots__": tuple(vars(cls)["__slots__"])})
    namespace: dict[str, Any] = {"_new": object.__new__, "_twin": twin, "_cls": cls}
    lines = [f"def make({', '.join(names)}):", "    self = _new(_twin)"]
    lines += [f"    self.{name} = {name}" for name in names]
    lines += ["    self.__class__ = _cls", "    return self"]
    # The same technique dataclasses uses for __init__: the source is built from the
    # class's own field names (identifiers), nothing from outside.
    exec("\n".join(lines), namespace)  # noqa: S102
    make: Callable[..., T] = namespace["make"]
    try:
        probe = make(*names)
    except (TypeError, AttributeError):  # another layout, or slots the twin lacks
        return None
    if any(getattr(probe, name) != name for name in names):
        return None
    return make


def _descriptor_constructor(cls: type[T], names: list[str]) -> Callable[..., T]:
    """Sets each field through the frozen class's own slot descriptors."""
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    lines = [f"def make({', '.join(names)}):", "    self = _new(_cls)"]
    for index, name in enumerate(names):
        namespace[f"_set{index}"] = getattr(cls, name).__set__
        lines.append(f"    _set{index}(self, {name})")
    lines.append("    return self")
    exec("\n".join(lines), namespace)  # noqa: S102
    make: Callable[..., T] = namespace["make"]
    return make

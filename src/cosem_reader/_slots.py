"""Fast constructors for the frozen, slotted value objects made once per push or frame.

A frozen dataclass' ``__init__`` sets each field with ``object.__setattr__``, which
costs about twice what setting the slot through its descriptor does.  The decode
path makes a dozen such objects per push (a :class:`~cosem_reader.cosem.readings.Reading`
per value, the frames, the ciphered APDU, the notification), so it builds them
with :func:`frozen_constructor`; the objects are ordinary instances of their class,
equal, hashable and immutable as ever.
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
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    lines = [f"def make({', '.join(names)}):", "    self = _new(_cls)"]
    for index, name in enumerate(names):
        namespace[f"_set{index}"] = getattr(cls, name).__set__
        lines.append(f"    _set{index}(self, {name})")
    lines.append("    return self")
    # The same technique dataclasses uses for __init__: the source is built from the
    # class's own field names (identifiers), nothing from outside.
    exec("\n".join(lines), namespace)  # noqa: S102
    make: Callable[..., T] = namespace["make"]
    make.__qualname__ = f"frozen_constructor.<{cls.__name__}>"
    return make

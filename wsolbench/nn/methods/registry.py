"""The method registry: ``@register_method(name)`` and ``create_method(name, **options)``."""

from __future__ import annotations

from wsolbench.errors import WsolbenchError

_METHODS: dict[str, type] = {}


def register_method(name: str):
    """Class decorator registering a :class:`~wsolbench.nn.methods.base.WSOLMethod` subclass."""

    def deco(cls):
        if name in _METHODS:
            raise ValueError(f"method {name!r} registered twice")
        cls.name = name
        _METHODS[name] = cls
        return cls

    return deco


def method_names() -> list[str]:
    return sorted(_METHODS)


def create_method(name: str, **options):
    """Instantiate a registered method with its options (unknown options raise); ``A+B`` composes
    registered methods (:mod:`wsolbench.nn.methods.compose`; options ``A={...}, B={...}``)."""
    if "+" in name:
        from wsolbench.nn.methods.compose import compose

        try:
            return compose(name, options, create_method)
        except ValueError as e:
            raise WsolbenchError(str(e)) from e
    if name not in _METHODS:
        raise WsolbenchError(f"unknown WSOL method {name!r}; trained methods: {', '.join(method_names())} "
                             "(or several joined by '+', e.g. augment+has)")
    try:
        return _METHODS[name](**options)
    except ValueError as e:
        raise WsolbenchError(str(e)) from e

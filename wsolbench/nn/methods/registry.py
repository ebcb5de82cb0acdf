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


def method_class(name: str) -> type:
    """The registered class of a method (for its defaults and option rules)."""
    if name not in _METHODS:
        raise WsolbenchError(f"unknown WSOL method {name!r}; trained methods: {', '.join(method_names())}")
    return _METHODS[name]


def method_architecture(name: str) -> str:
    """The model a method trains (``cam``, ``acol``, ``spg``); composed methods train the CAM model."""
    return "cam" if "+" in name else method_class(name).architecture


def merge_method_options(name: str, base: dict, override: dict) -> dict:
    """A recipe's method options with command-line overrides (see ``WSOLMethod.merge_options``; a
    composed method ``A+B`` merges each part's table with its part's rules)."""
    if "+" not in name:
        return method_class(name).merge_options(base, override)
    parts, merged = name.split("+"), dict(base)
    for key, value in override.items():
        if key in parts and key in _METHODS and isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = _METHODS[key].merge_options(base[key], value)
        else:
            merged[key] = value
    return merged


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

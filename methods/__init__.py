"""Personalization methods: the plug-in interface, the registry and the built-in methods."""

from methods.interface import Method, MethodContext, SubjectInput, image_generators
from methods.options import option, option_of
from methods.registry import register_method, register_preset

__all__ = [
    "Method",
    "MethodContext",
    "SubjectInput",
    "image_generators",
    "option",
    "option_of",
    "register_method",
    "register_preset",
]

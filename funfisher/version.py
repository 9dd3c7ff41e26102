"""funfisher's version, in a module of its own so that every subpackage can read it without import order."""
__version__ = "0.1.0"

"""tokenward: strict, fast JWT authentication for Python."""

__version__ = "0.1.0"

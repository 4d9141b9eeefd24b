"""Worked examples: plain NumPy functions with known derivatives.

- :mod:`ad.examples.seminar`: the matrix-calculus seminar's problems and its table of
  differentiation rules, each with its closed form (see ``docs/seminar.md``).
"""

from ad.examples import seminar

__all__ = ["seminar"]

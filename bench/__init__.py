"""The benchmark of admodes (run from the repository).

``python -m bench sweep | plot | report | check``; see ``bench/__main__.py``.
"""

"""The pytest module that pytest-benchmark runs for :mod:`bench.timing`.

Not a test of the project (its name does not match ``test_*``): :func:`bench.timing.run`
passes this file to ``pytest.main`` with a plugin that parametrizes ``case``.
"""


def test_case(benchmark, case):
    """Time one prepared case with pytest-benchmark's calibrated rounds."""
    benchmark.group = case.key["problem"]
    benchmark.extra_info["case_id"] = case.id
    benchmark(case.fn)

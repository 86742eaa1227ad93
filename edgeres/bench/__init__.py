"""Benchmarking: timing loop, statistics, environment facts, estimates and reports.

``edgeres.bench.runner.run_benchmark(BenchConfig(...))`` is the entry point; the CLI's
``benchmark``, ``devices`` and ``doctor`` commands live in ``edgeres/cli/bench_cmds.py``.
Nothing here imports torch.
"""

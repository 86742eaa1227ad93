"""Benchmarking: timing loop, statistics, environment facts, estimates and reports.

``edgeres.bench.session.benchmark(BenchConfig(...))`` is the entry point (``runner.run_benchmark``
measures without writing files or comparing); the CLI's ``benchmark``, ``devices`` and
``doctor`` commands live in ``edgeres/cli/bench_cmds.py``.
Nothing here imports torch.
"""

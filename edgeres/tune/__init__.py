"""The engine sweep: which file x engine x threads is fastest on this device (`edgeres tune`).

Device side: no torch. Builds on ``edgeres.bench`` (timing, rows, reports); nothing in ``bench``
imports it.
"""

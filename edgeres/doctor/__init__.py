"""`edgeres doctor`: what is installed and works here, each engine probed from its row.

Device side: no torch. Builds on ``edgeres.bench`` (environment record, attained peak, tables).
"""

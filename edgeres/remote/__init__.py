"""The device itself, over SSH: copy model files into a content-addressed cache there, run the
device's own edgeres, bring its figures back (one device or a fleet at once).

Device-side room: standard library plus ``edgeres.bench``'s data classes; never torch. Kept
light on purpose (the CLI reads ``edgeres.remote.config`` to build its options): import
``edgeres.remote.commands`` for ``remote_benchmark``, ``remote_eval``, ``remote_predict`` and
``remote_json``, ``edgeres.remote.tables`` for what the CLI shows.
"""

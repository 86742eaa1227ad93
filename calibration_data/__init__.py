"""Calibration images shipped with edgeres, installed as ``edgeres.calibration_data``.

This file only makes the folder a package, so wheels carry the images and
``importlib.resources`` finds them; there is no code here (see ``README.md``).
"""

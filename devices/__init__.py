"""Device profiles shipped with edgeres, installed as ``edgeres.devices``.

This file only makes the folder a package, so wheels carry the YAML files and
``importlib.resources`` finds them; there is no code here. Profiles are data, read with
``yaml.safe_load`` (see ``README.md``).
"""

"""Device profiles: how to recognise a device and how to run and measure models on it.

* ``model``: the frozen dataclasses (``Profile`` and its parts), validated in ``__post_init__``;
* ``schema``: strict YAML-to-dataclass conversion with dotted-key errors;
* ``facts``: what ``/proc`` and ``/sys`` say about the machine running now;
* ``host``: the ``host`` profile computed from those facts;
* ``loading``: shipped profiles (``devices/``), a user's own file, matching this machine.

The public names are re-exported here (``from edgeres.profiles import load_profile``).
Torch-free: runtime, stream and bench import this on a device.
"""

from edgeres.profiles.facts import HostFacts, read_facts, this_machine
from edgeres.profiles.host import host_peak, host_profile
from edgeres.profiles.loading import (
    builtin_names,
    devices_dir,
    list_profiles,
    load_profile,
    load_profile_file,
    match_host,
)
from edgeres.profiles.model import (
    HOST,
    INT8_ACTIVATIONS,
    PRECISIONS,
    Budget,
    Camera,
    Figure,
    Match,
    Peak,
    Profile,
    Sensors,
    accelerators,
    profile_formats,
)
from edgeres.profiles.schema import SchemaError

__all__ = [
    "HOST",
    "INT8_ACTIVATIONS",
    "PRECISIONS",
    "Budget",
    "Camera",
    "Figure",
    "HostFacts",
    "Match",
    "Peak",
    "Profile",
    "SchemaError",
    "Sensors",
    "accelerators",
    "builtin_names",
    "devices_dir",
    "host_peak",
    "host_profile",
    "list_profiles",
    "load_profile",
    "load_profile_file",
    "profile_formats",
    "match_host",
    "read_facts",
    "this_machine",
]


def __getattr__(name: str):
    # Read from the format table when asked, so a format registered later is included.
    if name == "PROFILE_FORMATS":
        return profile_formats()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

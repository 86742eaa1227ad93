"""edgeres: small residual networks from training to a live camera on an edge device."""

__version__ = "0.1.0"

"""vret: immersive VR exposure-therapy session server, scenario toolkit and clinician console.

This package holds the ``vret`` command line; the parts live in ``telemetry``, ``vr_server``,
``scenarios``, ``avatar`` and ``clinician_console``.
"""

__version__ = "0.1.0"

"""The virtual client: a seeded, simulated headset wearer (pure numpy and Python).

See :mod:`vr_server.virtual_client.client` for how to drive it and ``docs/virtual-client.md``
for the model.
"""

from vr_server.virtual_client.behaviour import ClientPose, SceneObservation
from vr_server.virtual_client.client import CheckInAnswer, VirtualClient
from vr_server.virtual_client.params import VirtualClientParams

__all__ = [
    "CheckInAnswer",
    "ClientPose",
    "SceneObservation",
    "VirtualClient",
    "VirtualClientParams",
]

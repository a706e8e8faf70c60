"""Alliance ruptures: the 3RS codes, and the detector that proposes rupture candidates from
what the client does in the scene."""

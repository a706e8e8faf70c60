"""Questionnaires and ratings as data: definitions, text packs, scoring.

* :mod:`instruments.definition`: the definition format (items, scales, scores, flags).
* :mod:`instruments.packs`: the wording, kept apart and checked against the definition.
* :mod:`instruments.scoring`: scoring answers by the published rules.
* :mod:`instruments.catalogue`: what is shipped, what a site has added, what is available.

The shipped definitions are in ``definitions/``, the shipped English text in ``packs/en/``.
"""

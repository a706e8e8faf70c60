"""Session review: exposure trials from the log, and the self-contained HTML report.

* :mod:`review.trials`: each stay at a rung as a record (SUDS, expectancy, criterion).
* :mod:`review.session`: a recorded session loaded from the store for review.
* :mod:`review.report`: ``vret review``'s one-file HTML report.
"""

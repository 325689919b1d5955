"""Steering a headless run from another process: a Unix socket speaking versioned JSON lines.

`protocol` (the wire format), `server` (a thread in the training process), `client` (the Control and
MetricsStore a front end uses, backed by a connection), `runs` (finding runs and whether they
listen). None of them imports Textual.
"""

"""Many runs of one preset: launch them in parallel, then aggregate their evaluation curves.

`launcher` runs `cockpit PRESET --no-ui` subprocesses K at a time behind one progress display;
`runs` reads finished run directories; `aggregate` holds the statistics (mean ± standard error, the
interquartile mean with a stratified-bootstrap interval, paired differences); `report` turns
them into a table, CSV/JSON, a terminal plot and a PNG; `space` parses `--param`/`--search`;
`search` drives an Optuna study. scipy, matplotlib and optuna are imported only where used.
"""

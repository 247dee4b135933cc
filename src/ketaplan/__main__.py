"""``python -m ketaplan``: the command line, for when the ``ketaplan`` script is not on PATH."""

from ketaplan.cli import run

run()

"""The ``hitmachine`` command: one Typer app (main.py) and its sub-commands."""

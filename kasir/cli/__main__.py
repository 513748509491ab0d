"""``python -m kasir.cli``: the ``kasir`` command (tests and fault scripts start it so)."""

from kasir.cli import main

main()

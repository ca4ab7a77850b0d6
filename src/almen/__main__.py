"""``python -m almen`` runs the command line."""

from almen.cli import main

main()

"""``python -m tokenward.cli``."""

from tokenward.cli import main

main()

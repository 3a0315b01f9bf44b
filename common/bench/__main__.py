"""``python -m common.bench``: see common/bench/__init__.py."""

from common.bench.cli import main

main()

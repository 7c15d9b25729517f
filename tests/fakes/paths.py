"""Where the repository is, for tests that read its files (docs, sample
configuration, devstack scripts): found from this file, so a test module
can move within ``tests/`` without counting parent directories."""

import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]

"""devcloud: a real OpenStack booted from PyPI on this machine (tests, demos).

Not for production.  See doc/devcloud.rst.
"""

"""devcloud: a real OpenStack, booted from PyPI on this machine, for tests and demos.

Not for production.  See doc/devcloud.rst.
"""

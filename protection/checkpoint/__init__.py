"""Checkpoints in the bank: writing and committing one (:mod:`.store`),
loading its index, graph and manifest (:mod:`.load`), who holds one while
it is written (:mod:`.owner`), checking every hash (:mod:`.verify`) and the
checks that decide whether it may be restored or deleted (:mod:`.check`),
signing older ones with the bank key (:mod:`.signing`).

The format is doc/checkpoint-format.rst. Imports :mod:`protection.bank`,
:mod:`protection.model` and :mod:`protection.exceptions`; never a plugin,
an operation or a cloud.
"""

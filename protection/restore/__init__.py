"""Getting a restore ready: the pre-flight that runs every plugin's
``restore_preflight`` hook and judges the answers (:mod:`.preflight`),
quota sums against the target project (:mod:`.quotas`), choosing part of a
checkpoint (:mod:`.selection`) and the dry-run preview that puts them
together (:mod:`.preview`).

Imports :mod:`protection.plugin`, :mod:`protection.model`,
:mod:`protection.operations` (to build the flow it previews) and
:mod:`protection.exceptions`.
"""

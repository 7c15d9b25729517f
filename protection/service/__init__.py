"""The protection service: the one facade the CLI (and the API) call to
discover resources and to run protect, restore, delete and verify.

Imports every framework package below it; nothing but the CLI, the
conductor's command and the API imports it.
"""

from protection.service.facade import ProtectionService  # noqa: F401

"""Cinder volumes (``OS::Cinder::Volume``), with their data in one of two
places, chosen per protect by the ``data_location`` parameter:

``cinder`` (default, ``backup.py``)
    A Cinder backup; the bank holds its id and what a new volume needs.
    Cheap and incremental-capable, but a backup belongs to its project:
    only that project can restore from it.
``bank`` (``bank.py``)
    The volume's data itself, streamed into the bank through a temporary
    Glance image with a sha256 per object; restore needs no backup, so it
    works in another project or cloud with that project's credentials.

``plugin.py`` holds the plugin class; the tasks keep their module. The
names below are re-exported so ``plugins.volume.X`` keeps working.
"""

from plugins.volume.backup import *  # noqa: F401,F403
from plugins.volume.backup import RESOURCE_TYPE  # noqa: F401
from plugins.volume.plugin import VolumePlugin  # noqa: F401

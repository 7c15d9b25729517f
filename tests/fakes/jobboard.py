"""A jobboard as a list: what Poster, the sweeper and the follow loop
use of TaskFlow's Redis or etcd board. ``down``: every call fails as a
Redis that went away does."""

import dataclasses

from protection.operations import jobboard


@dataclasses.dataclass(eq=False)
class Job:
    details: dict


class Board:
    def __init__(self):
        self.jobs = []
        self.down = False

    def post(self, name, book=None, details=None):
        if self.down:
            raise ConnectionError("Connection refused")
        self.jobs.append(Job(details))

    def iterjobs(self, only_unclaimed=False, ensure_fresh=False):
        if self.down:
            raise ConnectionError("Connection refused")
        return iter(list(self.jobs))


def posting(service, board=None):
    """Make ``service`` post its operations to ``board`` (a new one when
    none is given), as a service with ``[jobboard] address`` does;
    returns the board."""
    board = Board() if board is None else board
    poster = jobboard.Poster(service.conf, service.stores)
    poster._board = board
    service.poster = poster
    return board

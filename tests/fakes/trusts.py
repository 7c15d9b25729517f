"""Keystone trusts for tests: what :class:`protection.auth.trusts.Trusts`
does, in memory. ``connection(trust_id)`` is the cloud of the trust's
project (``clouds``: project id -> fake cloud), as a trust-scoped token
would give; a trust deleted, or listed in ``refused``, is not honoured.
"""

import itertools

from protection.auth import trusts


class FakeTrusts:
    def __init__(self, clouds, lifetime=86400.0, now=1000.0):
        self.clouds = clouds
        self.lifetime = lifetime
        self.now = now
        self.live = {}          # trust id -> (user, project, roles)
        self.made = []          # every trust made: (id, user, project, roles)
        self.deleted = []       # (trust id, "caller" | "trust")
        self.refused = set()    # ids Keystone refuses (expired, role gone)
        self.failing_deletes = 0
        self._ids = (f"{n:032x}" for n in itertools.count(1))

    def check_configured(self):
        """Configured."""

    def create(self, conn, user_id, project_id, roles):
        trust_id = next(self._ids)
        self.live[trust_id] = (user_id, project_id, sorted(set(roles)))
        self.made.append((trust_id, user_id, project_id, sorted(set(roles))))
        return trusts.Trust(trust_id, self.now + self.lifetime)

    def connection(self, trust_id):
        if trust_id not in self.live or trust_id in self.refused:
            raise trusts.TrustNotHonoured(trust_id, "Unauthorized: 401")
        return self.clouds[self.live[trust_id][1]]

    def delete(self, trust_id, conn=None):
        if self.failing_deletes:
            self.failing_deletes -= 1
            raise trusts.exceptions.OperationError("Keystone is away")
        if self.live.pop(trust_id, None) is not None:
            self.deleted.append((trust_id, "caller" if conn else "trust"))

    def delete_quietly(self, trust_id, conn=None):
        try:
            self.delete(trust_id, conn)
            return True
        except trusts.exceptions.OperationError:
            return False

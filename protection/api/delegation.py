"""Operations the API posts to the jobboard, acting with a Keystone trust.

With ``[jobboard] address`` set, the API runs no operation itself: for
each route that starts one it

1. reaches the jobboard (down: 503, nothing made or recorded);
2. makes a trust with the caller's token (:mod:`protection.auth.trusts`:
   trustor the caller, trustee the ``[trustee]`` user, the caller's
   project and roles, impersonation, an expiry);
3. records the operation with the trust's id (never a token, never a
   ``clouds.yaml`` name) and posts its job: a conductor runs it acting
   with the trust, and deletes the trust when it ends.

If anything after the trust was made fails (recording, posting), or
nothing was posted (a delete that ended at once), the trust is deleted
again with the caller's token: nothing is left behind. Without a
jobboard nothing here applies: the operation runs in the API's pool
(:mod:`.workers`) with the caller's token in memory.
"""

from protection import exceptions
from protection.api import errors
from protection.operations import jobboard


def posting(request):
    """Whether the API posts its operations (a jobboard is configured)."""
    return request.service.poster is not None


def reach_board(request):
    """503 unless the jobboard answers (before anything is made)."""
    try:
        request.service.poster.connect()
    except exceptions.OperationError as exc:
        raise errors.ServiceUnavailable(
            str(exc), headers={"Retry-After": errors.RETRY_AFTER}) from None


def make_trust(request):
    """A trust from the caller to the trustee, for the caller's project
    and roles (from the validated token)."""
    caller = request.caller
    return request.service.trusts.create(
        request.connection(), caller.user_id, caller.project_id,
        caller.context.roles)


def take_back(request, trust):
    """Delete ``trust`` with the caller's token (best effort, logged: the
    trust's expiry bounds one that could not be deleted)."""
    request.service.trusts.delete_quietly(trust.id, request.connection())


def start(request, action):
    """Start an operation: ``action(trust)`` calls the service with
    ``trust`` (``None`` without a jobboard: then the pool must have room)
    and returns what it returns. See the module doc."""
    if not posting(request):
        request.require_room()
        return action(None)
    reach_board(request)
    trust = make_trust(request)
    try:
        result = action(trust)
    except BaseException:
        take_back(request, trust)
        raise
    if not isinstance(result, jobboard.Posted):
        take_back(request, trust)     # nothing was posted with it
    return result


def post_again(request, op, abort):
    """Post a resume (or, ``abort``, an abort) of a recorded operation;
    202 with it. It acts with the trust or cloud it recorded; one that
    recorded neither (run by an API without a jobboard, or whose trust
    ended when it was given up) gets a new trust of the caller's, who
    must then be of its project."""
    reach_board(request)
    caller = request.caller
    args = op.args or {}
    changes = {"abort": {"project_id": caller.project_id,
                         "user_id": caller.user_id}} if abort else {}
    trust = None
    if not (args.get("trust_id") or args.get("cloud")):
        if op.project_id != caller.project_id:
            raise errors.Conflict(
                f"operation {op.id} belongs to project {op.project_id}: "
                "take it over with a token of that project (it will act "
                "with the caller's credentials)")
        trust = make_trust(request)
        changes.update(trust_id=trust.id, trust_expires_at=trust.expires_at)
    try:
        request.service.poster.post_again(
            op, changes, drop=() if abort else ("abort",))
    except BaseException:
        if trust is not None:
            take_back(request, trust)
        raise
    return 202, {"operation_id": op.id}, {
        "Location": f"{request.host_url}/v1/operations/{op.id}"}

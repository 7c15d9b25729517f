"""Restore: the security groups, in parallel with the network's chain.

A group two protected networks share is created once per restore
(``tasks.create_shared``: marked and journaled under the group's own key,
so a re-run after a crash finds it): ``EnsureSecurityGroup`` provides
``{"id", "created", "recorded"}`` so that only a flow of the operation
that created it sets the rules, and the revert that finds it journaled
deletes it. The project's ``default`` group maps to the target project's
own and is never created.

The rules carry no mark (Neutron has no tags on rules): they are made in
one atomic bulk request on a group this operation created and emptied,
so the rules on that group are the ones an earlier run made.
"""

from taskflow import task

from plugins.network import common
from protection import exceptions
from protection.plugin import tasks
from protection.plugin import wait


def default_group_id(conn):
    project = conn.current_project_id
    groups = list(conn.network.security_groups(name=common.DEFAULT_GROUP,
                                               project_id=project))
    if not groups:
        raise exceptions.StackvaultError(
            f"project {project} has no {common.DEFAULT_GROUP!r} security "
            "group to map the original default group to")
    return groups[0].id


class EnsureSecurityGroup(task.Task):
    """Create a saved group once per restore, or map the default group.

    Provides ``{"id": new id, "created": whether this task created it,
    "recorded": whether this task recorded the id}``; only the creator
    deletes the group on revert, and only the recorder forgets the id (a
    default group is recorded, never created, so it is never deleted).
    """

    def __init__(self, group):
        super().__init__(name=f"EnsureSecurityGroup-{group['id']}",
                         provides=common.group_key(group["id"]))
        self.group = group

    def execute(self, ctx, conn, parameters):
        saved = self.group
        if saved["is_default"]:
            new_id, recorded = ctx.restored.create_once(
                common.SECURITY_GROUP, saved["id"],
                lambda: default_group_id(conn))
            return {"id": new_id, "created": False, "recorded": recorded}

        def create(mark):
            attrs = {"name": common.named(parameters, saved["name"]),
                     "description": mark}
            if saved.get("stateful") is False:
                attrs["stateful"] = False
            return conn.network.create_security_group(**attrs).id
        new_id, created = tasks.create_shared(
            ctx, self.name, common.SECURITY_GROUP, saved["id"], create,
            lambda found: tasks.exists(conn.network.get_security_group,
                                       found),
            lambda mark: _marked_group(conn, mark),
            lambda found: conn.network.update_security_group(
                found, description=saved["description"]))
        return {"id": new_id, "created": created, "recorded": created}

    def unmark(self, ctx, conn):
        """The restore's last stage: the saved description replaces the
        mark (on the group this atom created)."""
        if self.group["is_default"]:
            return
        tasks.unmark_shared(
            ctx, self.name, common.SECURITY_GROUP, self.group["id"],
            "security group", conn.network.get_security_group,
            lambda found: conn.network.update_security_group(
                found, description=self.group["description"]))

    def revert(self, ctx, conn, result, **kwargs):
        group_id = None
        if not self.group["is_default"]:
            group_id = tasks.shared_to_undo(
                ctx, self.name, common.SECURITY_GROUP, self.group["id"],
                result, lambda mark: _marked_group(conn, mark))
        if group_id is not None:
            if tasks.shared_proven(
                    ctx, conn.network.get_security_group, "security group",
                    common.SECURITY_GROUP, self.group["id"],
                    group_id) is not None:
                wait.delete_when_settled(
                    lambda: conn.network.get_security_group(group_id),
                    lambda: conn.network.delete_security_group(
                        group_id, ignore_missing=True),
                    what=f"security group {group_id}",
                    timeouts=ctx.timeouts)
            tasks.forget_shared(ctx, self.name, common.SECURITY_GROUP,
                                self.group["id"])
        elif isinstance(result, dict) and result["recorded"]:
            ctx.forget_new_id(common.SECURITY_GROUP, self.group["id"])


def _marked_group(conn, mark):
    return tasks.first_id(conn.network.security_groups(description=mark))


class RemoveAutoAddedRules(task.Task):
    """Neutron gives a new group rules of its own (egress to anywhere);
    remove them so that the group's rules are exactly the saved ones.

    Nothing to revert: deleting the group (its creator's revert) is what
    undoes the group and every change to it.
    """

    def __init__(self, group):
        super().__init__(name=f"RemoveAutoAddedRules-{group['id']}",
                         provides=common.group_clean_key(group["id"]),
                         rebind={"group": common.group_key(group["id"])})

    def execute(self, conn, group):
        if not group["created"]:
            return False
        for rule in list(conn.network.security_group_rules(
                security_group_id=group["id"])):
            conn.network.delete_security_group_rule(rule.id,
                                                    ignore_missing=True)
        return True


def _new_rule(ctx, group_id, saved):
    """The request for one saved rule on the new group ``group_id``."""
    rule = {"security_group_id": group_id,
            "direction": saved["direction"],
            "ether_type": saved["ethertype"]}
    for key in ("protocol", "port_range_min", "port_range_max",
                "remote_ip_prefix", "remote_address_group_id",
                "description"):
        if saved.get(key) not in (None, ""):
            rule[key] = saved[key]
    remote = saved.get("remote_group_id")
    if remote:
        rule["remote_group_id"] = ctx.restored.get(
            common.SECURITY_GROUP, remote, remote)
    return rule


class CreateSecurityGroupRules(task.Task):
    """The saved rules of a group this restore created, in one (atomic)
    bulk request; a remote group that was restored is re-pointed to its
    new id, any other keeps its original id as a reference."""

    def __init__(self, group, restored_remotes):
        requires = [common.group_clean_key(group["id"])]
        requires += [common.group_key(g) for g in sorted(restored_remotes)]
        super().__init__(name=f"CreateSecurityGroupRules-{group['id']}",
                         rebind={"group": common.group_key(group["id"])},
                         requires=requires)
        self.group = group

    def execute(self, ctx, conn, group, **ready):
        if not group["created"] or not self.group["rules"]:
            return []
        if ctx.journal is not None and ctx.journal.resuming:
            # A re-run: the group is ours and was emptied before the first
            # run, so any rule on it is what that run's bulk request made.
            made = [r.id for r in conn.network.security_group_rules(
                security_group_id=group["id"])]
            if made:
                return made
        rules = [_new_rule(ctx, group["id"], saved)
                 for saved in self.group["rules"]]
        created = conn.network.create_security_group_rules(rules)
        return [r.id for r in created]

    def revert(self, ctx, conn, result, **kwargs):
        if not isinstance(result, list) or tasks.from_storage(ctx):
            # Rules carry no mark: ids read back from storage are not
            # deleted one by one; deleting the group (its creator's
            # revert, proven by the group's mark) takes them with it.
            return
        for rule_id in result:
            conn.network.delete_security_group_rule(rule_id,
                                                    ignore_missing=True)

"""Idempotent creates (issue 10): a task killed between the cloud's answer
and the journal write finds what it made, by its marks, when it runs again
(resume) or is reverted without a result (abort).

The kill is the fault-injection point itself (``after_call``), raising
here instead of ending the process. Neutron and Glance are the small
in-memory fakes of this directory, so the marks are really stored and
really searched for.
"""

import hashlib
import types
from unittest import mock

import pytest
from openstack import exceptions as sdk_exceptions

from plugins import image as image_plugin
from plugins import keypair
from plugins import volume
from plugins.network import common
from plugins.network import networks
from plugins.network import routers
from plugins.network import security_groups
from plugins.server import restore as server_restore
from protection import exceptions
from protection.plugin import image_data
from protection.plugin import journal as protect_journal
from protection.plugin import tasks
from protection.plugin.context import Journal
from protection.model.graph import ResourceGraph
from protection.model.progress import Progress
from protection.model.resource import Resource
from tests.fakes import fake_glance
from tests.fakes import fake_neutron
from tests.fakes.plugin_helpers import FAST
from tests.fakes.plugin_helpers import gone_once_deleted
from tests.fakes.plugin_helpers import make_ctx
from tests.fakes.plugin_helpers import obj

NET = Resource(common.RESOURCE_TYPE, "net-1", "app")
OP = "op-1"


class Killed(BaseException):
    """Stands for os._exit at the fault point."""


def killed_after_call():
    return mock.patch.object(tasks.faults, "maybe_crash",
                             side_effect=lambda name, point: _kill(point))


def _kill(point):
    if point == tasks.faults.AFTER_CALL:
        raise Killed()


def ctx_for(resource, conn, resuming, operation="restore", **kwargs):
    ctx = make_ctx(resource, conn, operation=operation, **kwargs)
    ctx.journal = Journal(OP, resuming=resuming)
    return ctx


def run_killed(call):
    with killed_after_call(), pytest.raises(Killed):
        call()


@pytest.fixture
def neutron():
    return types.SimpleNamespace(network=fake_neutron.FakeNeutron(),
                                 current_project_id=fake_neutron.PROJECT)


SAVED_NETWORK = {"id": "net-1", "name": "app", "description": "d",
                 "admin_state_up": True}
SAVED_SUBNET = {"id": "sub-1", "name": "a", "description": "",
                "cidr": "10.0.0.0/24", "ip_version": 4,
                "allocation_pools": [{"start": "10.0.0.10",
                                      "end": "10.0.0.99"}],
                "gateway_ip": "10.0.0.1", "dns_nameservers": [],
                "host_routes": [], "enable_dhcp": True}


def _table(conn, kind):
    return {"network": conn.network.network_table,
            "subnet": conn.network.subnet_table,
            "router": conn.network.router_table,
            "group": conn.network.groups,
            "port": conn.network.port_table}[kind]


def _marked(conn, kind):
    """What carries a mark (a description stackvault:<hash>)."""
    return [k for k, v in _table(conn, kind).items()
            if (v.get("description") or "").startswith(tasks.TAG_PREFIX)]


def _named(conn, kind, name):
    return [k for k, v in _table(conn, kind).items() if v["name"] == name]


# -- CreatingTask: Neutron networks and subnets ------------------------------
class TestNetworkAndSubnet:
    def _run(self, ctx, conn):
        task = networks.CreateNetwork(name="N#net-1/CreateNetwork")
        ctx.metadata = {"network": SAVED_NETWORK}
        return task.execute(ctx, conn, ctx.metadata, {})

    def test_a_rerun_finds_the_marked_network(self, neutron):
        run_killed(lambda: self._run(ctx_for(NET, neutron, False), neutron))
        [made] = _marked(neutron, "network")
        again = ctx_for(NET, neutron, True)
        assert self._run(again, neutron) == made
        assert _named(neutron, "network", "app") == [made]
        assert again.journal.created_by("N#net-1/CreateNetwork") == made
        assert again.restored.get(common.RESOURCE_TYPE, "net-1") == made
        # the mark stays until the restore's last stage takes it off
        assert _marked(neutron, "network") == [made]
        networks.CreateNetwork(name="N#net-1/CreateNetwork").unmark(
            again, neutron)
        assert _marked(neutron, "network") == []
        assert neutron.network.network_table[made]["description"] == "d"
        assert again.journal.created_by(
            "unmarked:N#net-1/CreateNetwork") == made

    def test_an_abort_after_the_last_stage_leaves_it(self, neutron):
        """Unmarked, it proves nothing: an abort leaves it, reported."""
        ctx = ctx_for(NET, neutron, False)
        made = self._run(ctx, neutron)
        task = networks.CreateNetwork(name="N#net-1/CreateNetwork")
        task.unmark(ctx, neutron)
        abort = ctx_for(NET, neutron, True)
        abort.journal = Journal(OP, resuming=True,
                                initial=ctx.journal.remaining())
        with pytest.raises(tasks.NotOurs, match="took its marks off"):
            task.revert(abort, neutron, made)
        assert _named(neutron, "network", "app") == [made]

    def test_a_planted_network_is_neither_adopted_nor_deleted(self, neutron):
        foreign = neutron.network.create_network(name="theirs").id
        task = networks.CreateNetwork(name="N#net-1/CreateNetwork")
        again = ctx_for(NET, neutron, True)
        again.journal.record(task.name, foreign)
        made = self._run(again, neutron)
        assert made != foreign
        with pytest.raises(tasks.NotOurs, match=foreign):
            task.revert(again, neutron, foreign)
        assert _named(neutron, "network", "theirs") == [foreign]

    def test_the_mark_is_the_operations_and_the_atoms(self, neutron):
        task = networks.CreateNetwork(name="N#net-1/CreateNetwork")
        ctx = ctx_for(NET, neutron, False)
        assert task.mark_tag(ctx) == tasks.tag_for(OP, task.name)
        other = networks.CreateNetwork(name="N#net-2/CreateNetwork")
        assert other.mark_tag(ctx) != task.mark_tag(ctx)
        assert len(task.mark_tag(ctx)) <= 60

    def test_abort_finds_the_marked_network_without_a_result(self, neutron):
        run_killed(lambda: self._run(ctx_for(NET, neutron, False), neutron))
        assert _marked(neutron, "network")
        networks.CreateNetwork(name="N#net-1/CreateNetwork").revert(
            ctx_for(NET, neutron, True), neutron, None)
        assert _named(neutron, "network", "app") == []

    def test_a_rerun_finds_the_marked_subnet(self, neutron):
        net = neutron.network.create_network(name="app").id
        task = networks.CreateSubnet(SAVED_SUBNET)
        task.name = "N#net-1/CreateSubnet-sub-1"
        run_killed(lambda: task.execute(ctx_for(NET, neutron, False),
                                        neutron, {}, net))
        [made] = _marked(neutron, "subnet")
        # a second create would be refused: the CIDR overlaps the first
        again = ctx_for(NET, neutron, True)
        assert task.execute(again, neutron, {}, net) == made
        assert _named(neutron, "subnet", "a") == [made]
        assert _marked(neutron, "subnet") == [made]
        task.revert(again, neutron, None)       # by the journal now
        assert _named(neutron, "subnet", "a") == []


# -- shared objects: security groups, routers, server ports -----------------
GROUP = {"id": "sg-web", "name": "web", "description": "w",
         "is_default": False,
         "rules": [{"direction": "ingress", "ethertype": "IPv4",
                    "protocol": "tcp", "port_range_min": 22,
                    "port_range_max": 22}]}


def _group_task(network_id):
    task = security_groups.EnsureSecurityGroup(GROUP)
    task.name = f"N#{network_id}/EnsureSecurityGroup-sg-web"
    return task


class TestSharedSecurityGroup:
    def test_a_rerun_by_another_network_finds_it_and_owns_it(self, neutron):
        """Killed after Neutron made the group: the next atom to need it
        (here another network's) finds it by its mark and becomes its
        creator, so the group's rules are still set up exactly once."""
        run_killed(lambda: _group_task("net-1").execute(
            ctx_for(NET, neutron, False), neutron, {}))
        [made] = _marked(neutron, "group")
        again = ctx_for(NET, neutron, True)
        assert _group_task("net-2").execute(again, neutron, {}) == {
            "id": made, "created": True, "recorded": True}
        assert _group_task("net-1").execute(again, neutron, {}) == {
            "id": made, "created": False, "recorded": False}
        assert _named(neutron, "group", "web") == [made]
        assert _marked(neutron, "group") == [made]
        _group_task("net-1").unmark(again, neutron)     # not its creator
        assert _marked(neutron, "group") == [made]
        _group_task("net-2").unmark(again, neutron)
        assert neutron.network.groups[made]["description"] == "w"

    def test_the_creator_stays_the_creator_after_a_resume(self, neutron):
        first = ctx_for(NET, neutron, False)
        made = _group_task("net-1").execute(first, neutron, {})["id"]
        again = ctx_for(NET, neutron, True)
        again.journal = Journal(OP, resuming=True,
                                initial=first.journal.remaining())
        again.restored.record(common.SECURITY_GROUP, "sg-web", made)
        assert _group_task("net-2").execute(again, neutron, {})[
            "created"] is False
        assert _group_task("net-1").execute(again, neutron, {})[
            "created"] is True

    def test_abort_finds_it_by_its_mark(self, neutron):
        run_killed(lambda: _group_task("net-1").execute(
            ctx_for(NET, neutron, False), neutron, {}))
        _group_task("net-1").revert(ctx_for(NET, neutron, True), neutron,
                                    None)
        assert _named(neutron, "group", "web") == []

    def test_abort_by_the_journal_and_only_by_its_creator(self, neutron):
        ctx = ctx_for(NET, neutron, False)
        made = _group_task("net-1").execute(ctx, neutron, {})["id"]
        _group_task("net-2").revert(ctx, neutron, None)     # not its own
        assert _named(neutron, "group", "web") == [made]
        _group_task("net-1").revert(ctx, neutron, None)     # died running
        assert _named(neutron, "group", "web") == []
        assert ctx.journal.remaining() == {}

    def test_rerun_rules_are_the_earlier_runs(self, neutron):
        ctx = ctx_for(NET, neutron, False)
        group = _group_task("net-1").execute(ctx, neutron, {})
        security_groups.RemoveAutoAddedRules(GROUP).execute(neutron, group)
        rules = security_groups.CreateSecurityGroupRules(GROUP, ())
        first = rules.execute(ctx, neutron, group)
        again = ctx_for(NET, neutron, True)
        assert rules.execute(again, neutron, group) == first
        assert len(list(neutron.network.security_group_rules(
            security_group_id=group["id"]))) == 1


ROUTER = {"id": "r1", "name": "edge", "description": "e",
          "admin_state_up": True, "external_gateway": None,
          "interfaces": []}


class TestSharedRouter:
    def _task(self):
        task = routers.EnsureRouter(ROUTER)
        task.name = "N#net-1/EnsureRouter-r1"
        return task

    def test_a_rerun_finds_it_and_abort_deletes_it(self, neutron):
        run_killed(lambda: self._task().execute(
            ctx_for(NET, neutron, False), neutron, {}))
        [made] = _marked(neutron, "router")
        again = ctx_for(NET, neutron, True)
        assert self._task().execute(again, neutron, {}) == {
            "id": made, "created": True}
        assert _named(neutron, "router", "edge") == [made]
        assert _marked(neutron, "router") == [made]
        self._task().revert(again, neutron, None)
        assert _named(neutron, "router", "edge") == []

    def test_an_abort_leaves_a_planted_or_unmarked_router(self, neutron):
        ctx = ctx_for(NET, neutron, False)
        made = self._task().execute(ctx, neutron, {})["id"]
        self._task().unmark(ctx, neutron)
        assert neutron.network.router_table[made]["description"] == "e"
        foreign = neutron.network.create_router(name="theirs").id
        for planted in (made, foreign):
            abort = ctx_for(NET, neutron, True)
            abort.journal.record(f"{common.ROUTER}#r1@{self._task().name}",
                                 planted)
            with pytest.raises(tasks.NotOurs, match=planted):
                self._task().revert(abort, neutron, None)
        assert sorted(neutron.network.router_table) == sorted(
            [made, foreign])

    def test_abort_finds_it_by_its_mark(self, neutron):
        run_killed(lambda: self._task().execute(
            ctx_for(NET, neutron, False), neutron, {}))
        self._task().revert(ctx_for(NET, neutron, True), neutron, None)
        assert _named(neutron, "router", "edge") == []


class TestRouterInterface:
    """Killed after Neutron added the interface, before the result was
    saved: the re-run's add is refused, and it finds that interface."""

    def _setup(self, neutron):
        net = neutron.network.create_network(name="app").id
        subnet = neutron.network.create_subnet(
            network_id=net, cidr="10.0.0.0/24", gateway_ip="10.0.0.1").id
        router = neutron.network.create_router(name="edge").id
        return net, subnet, router

    def _interfaces(self, neutron, router):
        return [p.id for p in neutron.network.ports(device_id=router)]

    def test_a_rerun_by_subnet_finds_the_interface(self, neutron):
        _net, subnet, router = self._setup(neutron)
        gateway = {"port_id": "gw", "fixed_ips": [
            {"subnet_id": "sub-1", "ip_address": "10.0.0.1"}]}
        task = routers.AddRouterInterface("r1", gateway, by_port=False)
        ctx = ctx_for(NET, neutron, False)
        first = task.execute(ctx, neutron, {"id": router}, subnet_id=subnet)
        with pytest.raises(sdk_exceptions.BadRequestException,
                           match="already has a port on subnet"):
            neutron.network.add_interface_to_router(router, subnet=subnet)
        assert task.execute(ctx, neutron, {"id": router},
                            subnet_id=subnet) == first
        assert self._interfaces(neutron, router) == [first]

    def test_a_rerun_by_port_finds_the_interface(self, neutron):
        net, subnet, router = self._setup(neutron)
        port = neutron.network.create_port(network_id=net, fixed_ips=[
            {"subnet_id": subnet, "ip_address": "10.0.0.7"}]).id
        task = routers.AddRouterInterface(
            "r1", {"port_id": "p7", "fixed_ips": []}, by_port=True)
        ctx = ctx_for(NET, neutron, False)
        assert task.execute(ctx, neutron, {"id": router},
                            port_id=port) == port
        assert task.execute(ctx, neutron, {"id": router},
                            port_id=port) == port
        assert self._interfaces(neutron, router) == [port]

    def test_a_refusal_with_no_interface_of_its_own_stays_an_error(
            self, neutron):
        """The port is a server's, not the router's: nothing to find."""
        net, subnet, router = self._setup(neutron)
        port = neutron.network.create_port(
            network_id=net, device_id="srv-1", device_owner="compute:nova",
            fixed_ips=[{"subnet_id": subnet, "ip_address": "10.0.0.7"}]).id
        task = routers.AddRouterInterface(
            "r1", {"port_id": "p7", "fixed_ips": []}, by_port=True)
        with pytest.raises(sdk_exceptions.ConflictException):
            task.execute(ctx_for(NET, neutron, False), neutron,
                         {"id": router}, port_id=port)
        assert self._interfaces(neutron, router) == []


SRV = Resource("OS::Nova::Server", "srv-1", "web")


class TestServerPort:
    def _plans(self, neutron):
        net = neutron.network.create_network(name="app").id
        subnet = neutron.network.create_subnet(network_id=net,
                                               cidr="10.0.0.0/24").id
        return {"port-1": {"attrs": {
            "network_id": net, "mac_address": "fa:16:3e:00:00:99",
            "description": "web port",
            "fixed_ips": [{"subnet_id": subnet,
                           "ip_address": "10.0.0.10"}]},
            "fallback": None, "floating_ips": []}}

    def test_a_rerun_finds_the_port_with_the_fixed_ip(self, neutron):
        """A second port with the same fixed IP would be refused (409)."""
        plans = self._plans(neutron)
        task = server_restore.CreatePort("port-1")
        run_killed(lambda: task.execute(ctx_for(SRV, neutron, False),
                                        neutron, plans))
        [made] = _marked(neutron, "port")
        again = ctx_for(SRV, neutron, True)
        assert task.execute(again, neutron, plans) == {"id": made,
                                                       "created": True}
        assert _marked(neutron, "port") == [made]
        task.revert(again, neutron, None)
        assert neutron.network.port_table == {}

    def test_the_last_stage_puts_the_description_back(self, neutron):
        plans = self._plans(neutron)
        task = server_restore.CreatePort("port-1")
        ctx = ctx_for(SRV, neutron, False, metadata={
            "ports": [{"id": "port-1", "description": "web port"}]})
        made = task.execute(ctx, neutron, plans)["id"]
        task.unmark(ctx, neutron)
        assert neutron.network.port_table[made]["description"] == \
            "web port"

    def test_abort_finds_it_by_its_mark(self, neutron):
        plans = self._plans(neutron)
        task = server_restore.CreatePort("port-1")
        run_killed(lambda: task.execute(ctx_for(SRV, neutron, False),
                                        neutron, plans))
        task.revert(ctx_for(SRV, neutron, True), neutron, None)
        assert neutron.network.port_table == {}


def test_a_shared_create_without_journal_keeps_the_old_contract(neutron):
    """No operation (unit use, in-memory): created once, no lookups."""
    ctx = make_ctx(NET, neutron, operation="restore")
    first = _group_task("net-1").execute(ctx, neutron, {})
    assert _group_task("net-2").execute(ctx, neutron, {})[
        "created"] is False
    _group_task("net-2").revert(ctx, neutron, {"id": first["id"],
                                               "created": False,
                                               "recorded": False})
    assert _named(neutron, "group", "web") == [first["id"]]


# -- Glance ------------------------------------------------------------------
IMG = Resource(image_plugin.RESOURCE_TYPE, "img-orig", "cirros")
SAVED_IMAGE = {"name": "cirros", "disk_format": "raw",
               "container_format": "bare", "min_disk": 0, "min_ram": 0,
               "tags": [], "os_hidden": False, "protected": False,
               "properties": {"os_distro": "cirros"}}


@pytest.fixture
def glance():
    return fake_glance.connection()


class TestGlanceImage:
    def _run(self, ctx, conn):
        task = image_plugin.CreateImage(name="I#img-orig/CreateImage")
        return task.execute(ctx, conn, IMG, {"image": SAVED_IMAGE,
                                             "data": {}}, {}, ctx.restored)

    def test_a_rerun_finds_the_marked_image(self, glance):
        run_killed(lambda: self._run(ctx_for(IMG, glance, False), glance))
        [made] = list(glance.image.records)
        assert glance.image.records[made]["stackvault_operation"] == OP
        assert self._run(ctx_for(IMG, glance, True), glance) == made
        assert list(glance.image.records) == [made]

    def test_abort_finds_the_marked_image(self, glance):
        run_killed(lambda: self._run(ctx_for(IMG, glance, False), glance))
        image_plugin.CreateImage(name="I#img-orig/CreateImage").revert(
            ctx_for(IMG, glance, True), glance, None)
        assert glance.image.records == {}

    def test_another_operations_image_is_not_ours(self, glance):
        run_killed(lambda: self._run(ctx_for(IMG, glance, False), glance))
        other = ctx_for(IMG, glance, True)
        other.journal = Journal("op-2", resuming=True)
        assert self._run(other, glance) not in (None, "img-1")
        assert len(glance.image.records) == 2

    def test_the_marks_come_off_once_checked(self, glance):
        made = self._run(ctx_for(IMG, glance, False), glance)
        image_data.drop_marks(glance, made)
        record = glance.image.records[made]
        assert not set(tasks.MARK_KEYS) & set(record)
        assert record["os_distro"] == "cirros"
        image_data.drop_marks(glance, made)        # a re-run: nothing left

    def _counted(self, glance):
        for name in ("get", "get_image", "patch"):
            setattr(glance.image, name, mock.Mock(
                wraps=getattr(glance.image, name)))
        return glance.image

    def _unmark(self, glance, resuming):
        made = self._run(ctx_for(IMG, glance, False), glance)
        task = image_plugin.CreateImage(name="I#img-orig/CreateImage")
        ctx = ctx_for(IMG, glance, resuming)
        ctx.journal = Journal(OP, resuming=resuming,
                              initial={task.name: made})
        calls = self._counted(glance)
        task.unmark(ctx, glance)
        assert not set(tasks.MARK_KEYS) & set(glance.image.records[made])
        assert ctx.journal.created_by("unmarked:" + task.name) == made
        return calls

    def test_a_resumed_last_stage_reads_the_image_once(self, glance):
        """The proving GET says which marks are there: no second read
        before the PATCH (issue 22 item 7)."""
        calls = self._unmark(glance, resuming=True)
        assert calls.get_image.call_count + calls.get.call_count == 1
        assert calls.patch.call_count == 1

    def test_a_fresh_last_stage_does_not_read_the_image(self, glance):
        """Its id is the one Glance answered to this run: one PATCH."""
        calls = self._unmark(glance, resuming=False)
        assert calls.get_image.call_count + calls.get.call_count == 0
        assert calls.patch.call_count == 1

    def test_a_mark_already_gone_is_read_then_patched(self, glance):
        """Glance refuses the whole patch (409) when one key is gone: the
        image is then read, and what is left comes off."""
        made = self._run(ctx_for(IMG, glance, False), glance)
        del glance.image.records[made]["stackvault_task"]
        calls = self._counted(glance)
        image_data.drop_marks(glance, made)
        assert not set(tasks.MARK_KEYS) & set(glance.image.records[made])
        assert calls.get.call_count == 1, calls.get.call_args_list
        assert calls.patch.call_count == 2

    def test_an_image_gone_before_a_fresh_last_stage_is_gone(self, glance):
        made = self._run(ctx_for(IMG, glance, False), glance)
        task = image_plugin.CreateImage(name="I#img-orig/CreateImage")
        ctx = ctx_for(IMG, glance, False)
        ctx.journal = Journal(OP, initial={task.name: made})
        del glance.image.records[made]
        task.unmark(ctx, glance)
        assert ctx.journal.created_by("unmarked:" + task.name) is None
        assert ctx.journal.still_marked() == {}


class TestResumedUpload:
    DATA = b"x" * 1000

    def _data(self):
        digest = hashlib.sha256(self.DATA).hexdigest()
        return {"size": len(self.DATA), "sha256": digest,
                "objects": [{"name": "data/00000000",
                             "size": len(self.DATA), "sha256": digest}]}

    def _bank(self):
        bank = mock.Mock()
        bank.get.side_effect = lambda name, chunk_size: iter([self.DATA])
        return bank

    def test_waits_out_an_interrupted_uploads_saving(self, glance):
        """Killed mid-upload, Glance keeps the image 'saving' until it
        sees the connection gone; an upload then is refused (409)."""
        image_id = glance.image.add(None, status="saving")
        record = glance.image.records[image_id]
        polls = []

        def get_image(image):
            polls.append(record["status"])
            if len(polls) == 2:
                record["status"] = "queued"
            return fake_glance._typed(record)
        glance.image.get_image = get_image
        ctx = ctx_for(IMG, glance, True, timeouts=FAST)
        image_data.upload_image_data(ctx, glance, self._bank(), self._data(),
                                     image_id, "img-orig")
        assert polls[:2] == ["saving", "saving"]
        assert glance.image.data[image_id] == self.DATA
        assert record["status"] == "active"

    def test_an_upload_that_had_finished_is_not_sent_again(self, glance):
        image_id = glance.image.add(self.DATA)
        bank = self._bank()
        image_data.upload_image_data(ctx_for(IMG, glance, True), glance,
                                     bank, self._data(), image_id,
                                     "img-orig")
        bank.get.assert_not_called()


# -- key pairs: journaled before the call ------------------------------------
KP = Resource(keypair.RESOURCE_TYPE, "deploy", "deploy")
KP_META = {"name": "deploy", "type": "ssh", "public_key": "ssh-ed25519 AAA"}


class TestKeyPair:
    def _nova(self):
        conn = mock.Mock()
        made = {}

        def create_keypair(name, public_key, type):
            made[name] = obj(name=name, public_key=public_key)
            raise Killed()          # Nova made it; the process died

        def get_keypair(name):
            if name not in made:
                raise sdk_exceptions.NotFoundException(name)
            return made[name]
        conn.compute.create_keypair.side_effect = create_keypair
        conn.compute.get_keypair.side_effect = get_keypair
        conn.compute.find_keypair.side_effect = \
            lambda name, ignore_missing: made.get(name)
        conn.compute.delete_keypair.side_effect = made.pop
        return conn, made

    def test_killed_during_the_import_it_is_journaled(self):
        conn, made = self._nova()
        task = keypair.ImportKeyPair(name="K#deploy/ImportKeyPair")
        first = ctx_for(KP, conn, False)
        with pytest.raises(Killed):
            task.execute(first, conn, KP_META, {})
        assert first.journal.created_by(task.name) == "deploy"
        again = ctx_for(KP, conn, True)
        again.journal = Journal(OP, resuming=True,
                                initial=first.journal.remaining())
        assert task.execute(again, conn, KP_META, {}) == "deploy"
        # a key pair carries no mark: an abort lists it for the operator
        with pytest.raises(tasks.NotOurs, match="key pair deploy"):
            task.revert(again, conn, None)
        assert list(made) == ["deploy"]
        assert again.journal.created_by(task.name) == "deploy"

    def test_a_live_rollback_deletes_what_nova_answered(self):
        conn = mock.Mock()
        conn.compute.find_keypair.return_value = None
        conn.compute.create_keypair.return_value = obj(name="deploy")
        task = keypair.ImportKeyPair(name="K#deploy/ImportKeyPair")
        ctx = ctx_for(KP, conn, False)
        assert task.execute(ctx, conn, KP_META, {}) == "deploy"
        deleted = gone_once_deleted(conn.compute.get_keypair,
                                    conn.compute.delete_keypair,
                                    obj(name="deploy"))
        task.revert(ctx, conn, "deploy")
        assert deleted == ["deploy"]

    def test_a_refused_import_is_not_journaled(self):
        conn = mock.Mock()
        conn.compute.find_keypair.return_value = None
        conn.compute.create_keypair.side_effect = \
            sdk_exceptions.ConflictException("exists")
        ctx = ctx_for(KP, conn, False)
        with pytest.raises(sdk_exceptions.ConflictException):
            keypair.ImportKeyPair().execute(ctx, conn, KP_META, {})
        assert ctx.journal.remaining() == {}


# -- protect: ids in the bank ------------------------------------------------
VOL = Resource(volume.RESOURCE_TYPE, "vol-1", "data")


class FakeSection:
    def __init__(self):
        self.objects = {}

    def get_json(self, name):
        if name not in self.objects:
            raise exceptions.ObjectNotFound(name)
        return self.objects[name]

    def put_json(self, name, value):
        self.objects[name] = value


class TestProtectIdsInTheBank:
    def test_recorded_at_once_and_undone_without_the_operation(self):
        conn = mock.Mock()
        section = FakeSection()
        conn.block_storage.create_backup.return_value = obj(id="bk-1")
        ctx = make_ctx(VOL, conn, bank=section)
        task = volume.CreateBackup(name="OS::Cinder::Volume#vol-1/Backup")
        run_killed(lambda: task.execute(ctx, conn, VOL, {},
                                        {"status": "available"}, None,
                                        False))
        # killed after the call: only the mark knows it; a live run
        # records it in the bank the moment the API answers
        assert protect_journal.recorded(section) == {}
        task.execute(ctx, conn, VOL, {}, {"status": "available"}, None,
                     False)
        assert protect_journal.recorded(section) == {task.name: "bk-1"}

    @staticmethod
    def _undo(conn, recorded):
        """``undo_recorded`` of a one-volume checkpoint of operation op-1
        whose bank records ``recorded``; (undone, deleted, section)."""
        section = FakeSection()
        section.objects[protect_journal.OBJECT] = dict(recorded)
        deleted = []
        conn.block_storage.get_backup.side_effect = \
            lambda i: _gone_if(deleted, i, "available")
        conn.block_storage.get_snapshot.side_effect = \
            lambda i: _gone_if(deleted, i, "available")
        conn.block_storage.delete_backup.side_effect = deleted.append
        conn.block_storage.delete_snapshot.side_effect = deleted.append
        checkpoint = types.SimpleNamespace(
            id="cp-1", graph=ResourceGraph.build([VOL], lambda r: []),
            section=lambda resource: section, operation_id="op-1")
        registry = mock.Mock()
        registry.get.return_value = volume.VolumePlugin()
        undone = protect_journal.undo_recorded(checkpoint, registry, conn,
                                               None, FAST, Progress())
        return undone.deleted, deleted, section

    def test_checkpoint_delete_undoes_what_the_bank_records(self):
        undone, deleted, section = self._undo(mock.Mock(), {
            "OS::Cinder::Volume#vol-1/CreateBackup": "bk-1",
            "OS::Cinder::Volume#vol-1/CreateTemporarySnapshot": "snap-1"})
        assert sorted(undone) == ["bk-1", "snap-1"]
        assert sorted(deleted) == ["bk-1", "snap-1"]
        assert protect_journal.recorded(section) == {}

    def test_a_create_in_flight_at_the_kill_is_found_by_its_marks(self):
        """The process died while Cinder was making the backup: nothing
        recorded it, the checkpoint's operation marks it."""
        conn = mock.Mock()
        tag = tasks.tag_for("op-1", "OS::Cinder::Volume#vol-1/CreateBackup")
        conn.block_storage.backups.return_value = [
            obj(id="bk-other", volume_id="vol-1", description="by hand"),
            obj(id="bk-9", volume_id="vol-1",
                description=f"stackvault checkpoint cp-1 {tag}")]
        conn.block_storage.snapshots.return_value = []
        undone, deleted, _section = self._undo(conn, {
            "OS::Cinder::Volume#vol-1/CreateTemporarySnapshot": "snap-1"})
        assert sorted(undone) == ["bk-9", "snap-1"]
        assert sorted(deleted) == ["bk-9", "snap-1"]


def _gone_if(deleted, object_id, status):
    """A backup or snapshot of checkpoint cp-1 (as protect names them)
    until deleted."""
    if object_id in deleted:
        raise sdk_exceptions.NotFoundException(object_id)
    return obj(id=object_id, status=status, name="stackvault-tmp-cp-1",
               description="stackvault checkpoint cp-1")

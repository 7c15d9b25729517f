"""An ML2 mechanism driver that binds every port without any agent.

devcloud runs neutron-server alone (no OVS, no OVN, no L2 agent), so nothing
would ever bind a port and Nova would wait for it.  This driver binds each
port to the first segment of its network as an 'ovs' VIF, ACTIVE at once.
Loaded through the entry point ``devcloud_agentless`` in the namespace
``neutron.ml2.mechanism_drivers`` (written into the services virtualenv by
devcloud, see neutron_conf.py).
"""

from neutron_lib.plugins.ml2 import api


class AgentlessMechanismDriver(api.MechanismDriver):
    def initialize(self):
        pass

    @property
    def connectivity(self):
        return "l2"

    def bind_port(self, context):
        for segment in context.segments_to_bind:
            context.set_binding(
                segment[api.ID],
                "ovs",
                {"port_filter": True, "ovs_hybrid_plug": False},
                status="ACTIVE",
            )
            return

"""Every port devcloud listens on, all bound to 127.0.0.1 only."""

HOST = "127.0.0.1"
REGION = "RegionOne"

PORTS = {
    "mysql": 13306,
    "epmd": 14369,
    "rabbitmq": 15673,
    "rabbitmq-dist": 25673,
    "keystone": 5000,
    "glance": 9292,
    "placement": 8778,
    "neutron": 9696,
    "nova": 8774,
    "cinder": 8776,
    "heat": 8004,
    "swift-proxy": 8080,
    "swift-object": 6200,
    "swift-container": 6201,
    "swift-account": 6202,
}


def url(service, path=""):
    return "http://%s:%d%s" % (HOST, PORTS[service], path)

"""The unit that stackvault protects: a cloud resource of one type."""

import dataclasses
import typing


@dataclasses.dataclass(frozen=True, eq=False)
class Resource:
    """A cloud resource, named by Heat-style type and the cloud's id.

    Identity is ``(type, id)``: two resources of different types may share an
    id. ``name`` is informational; ``extra`` holds plugin-specific facts found
    at discovery (for example ``{"boot": True}`` on a server's boot volume)
    and must stay JSON-serialisable because it is saved in checkpoints.
    """

    type: str
    id: str
    name: str = ""
    extra: typing.Mapping = dataclasses.field(default_factory=dict)

    @property
    def key(self):
        return (self.type, self.id)

    def __eq__(self, other):
        if not isinstance(other, Resource):
            return NotImplemented
        return self.key == other.key

    def __hash__(self):
        return hash(self.key)

    def __str__(self):
        label = f" ({self.name})" if self.name and self.name != self.id else ""
        return f"{self.type} {self.id}{label}"

    def to_dict(self):
        return {"type": self.type, "id": self.id, "name": self.name,
                "extra": dict(self.extra)}

    @classmethod
    def from_dict(cls, data):
        return cls(type=data["type"], id=data["id"],
                   name=data.get("name", ""),
                   extra=dict(data.get("extra", {})))


def key_str(key):
    """``("OS::Nova::Server", "abc")`` -> ``"OS::Nova::Server#abc"``."""
    return f"{key[0]}#{key[1]}"


def parse_key_str(text):
    rtype, sep, rid = text.partition("#")
    if not sep or not rtype or not rid:
        raise ValueError(f"expected TYPE#ID, got {text!r}")
    return (rtype, rid)

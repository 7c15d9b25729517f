"""Datasources: read-only views of a cloud API as named tables.

A datasource is a class registered under the stevedore namespace
``stackvault.datasources`` (so a third party can ship one as its own
package). The contract, which :class:`Datasource` spells out:

- ``name``; the first line of the class docstring describes it;
- ``config_group`` / ``config_opts``: its options in ``stackvault.conf``,
  registered when it is loaded;
- ``catalog``: a :class:`~protection.datasources.translator.Catalog`, the
  tables it fills with their columns and documentation;
- ``__init__(conn, conf=None)``: an openstacksdk ``Connection`` that it
  only reads through;
- ``poll(only=None)``: read the API once and return a :class:`PollResult`;
  ``only`` names the tables wanted (default: all but the ``opt_in`` ones),
  and the datasource makes only the calls those need. A datasource object
  may remember its previous poll (to keep a failed call's rows, marked
  stale, and to read less); :mod:`protection.datasources.polling` diffs
  two polls and polls in a loop.
"""


from protection import config
from protection import exceptions
from protection import loader


UnknownDatasource = loader.ExtensionNotFound


class UnknownTable(exceptions.StackvaultError):
    def __init__(self, datasource, table, known):
        super().__init__(
            f"datasource {datasource!r} has no table {table!r} (tables: "
            f"{', '.join(sorted(known))})")
        self.table = table


class PollResult:
    """What one poll read.

    ``tables``: table name -> list of row dicts (only the tables asked for,
    and the datasource's error table); ``errors``: the rows of the error
    table (calls that failed, and what they left out); ``calls``: how many
    API calls the poll made (``calls_by_kind`` splits them); ``elapsed``:
    seconds.

    A table is in ``complete`` when every call it needs answered (or an
    earlier answer could be reused), else in ``stale`` and/or
    ``incomplete``: a call failed, and its rows are those the same call
    gave at the datasource's previous poll (stale) or are missing
    (incomplete: there was no earlier answer to keep). ``keys``: table
    name -> the columns that identify a row (None: the whole row), for
    :func:`protection.datasources.polling.diff`. ``full``: nothing was
    reused from an earlier poll; ``reused``: how many answers were.
    """

    def __init__(self, tables, errors, calls, calls_by_kind, elapsed,
                 complete=None, stale=(), incomplete=(), keys=None,
                 full=True, reused=0):
        self.tables = tables
        self.errors = errors
        self.calls = calls
        self.calls_by_kind = dict(calls_by_kind)
        self.elapsed = elapsed
        self.stale = frozenset(stale)
        self.incomplete = frozenset(incomplete)
        self.complete = frozenset(
            set(tables) - self.stale - self.incomplete
            if complete is None else complete)
        self.keys = dict(keys or {})
        self.full = full
        self.reused = reused

    def rows(self, table):
        return self.tables[table]

    def status(self, table):
        """``complete``, ``stale``, ``incomplete`` or ``stale,
        incomplete``."""
        found = [name for name in ("stale", "incomplete")
                 if table in getattr(self, name)]
        return ", ".join(found) or "complete"


class Datasource:
    """Base class of a datasource (see the module docstring)."""

    name = None
    config_group = None
    config_opts = []
    catalog = None
    #: tables a poll reads only when they are asked for by name
    opt_in = ()

    @classmethod
    def default_tables(cls):
        """The tables ``poll()`` reads when no ``only`` is given."""
        return [name for name in cls.tables() if name not in cls.opt_in]

    @classmethod
    def tables(cls):
        """Table name -> :class:`~protection.datasources.translator.Table`."""
        return dict(cls.catalog.tables)

    @classmethod
    def summary(cls):
        """The first paragraph of the class docstring, on one line."""
        text = (cls.__doc__ or "").strip().split("\n\n")[0]
        return " ".join(text.split())

    @classmethod
    def check_tables(cls, names):
        known = cls.tables()
        for name in names:
            if name not in known:
                raise UnknownTable(cls.name, name, known)

    def poll(self, only=None):
        raise NotImplementedError


def names():
    """The installed datasources' names, sorted."""
    return loader.names(loader.DATASOURCES)


def load_class(name):
    """The datasource class installed under ``name``."""
    return loader.load_one(loader.DATASOURCES, name)


def load(name, conn, conf):
    """An instance of datasource ``name`` reading through ``conn``; its
    options are registered in ``conf`` (and checked) first."""
    cls = load_class(name)
    config.register_component_opts(conf, cls)
    return cls(conn, conf)

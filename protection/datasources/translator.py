"""A small declarative translator: API responses into named tables.

A datasource driver declares, as plain dicts, how one API response (nested
dicts and lists) becomes rows of tables with fixed columns, and hands the
response to :class:`Translator`. The declaration is checked once, when the
``Translator`` is built (unknown keys, duplicate table names, missing or
duplicate columns raise :class:`TranslatorError`); translating never
raises for an odd value, only for data whose *shape* is wrong (a list where
an object is declared), as :class:`MalformedData`, so a driver can isolate
that one response.

Translation types (key ``translation-type``):

``value``
    A leaf: the value itself becomes one cell. ``None``, ``bool``, ``int``,
    ``float`` and ``str`` are kept; a dict or list becomes a JSON string
    (sorted keys), anything else its ``str()``. A value never crashes.

``hdict``
    A row per dict. ``field-translators`` is a list of
    ``{"fieldname": F, "col": C, "translator": T, "doc": TEXT}`` (``col``
    defaults to ``fieldname``, ``translator`` to ``value``). A field whose
    translator makes a table (hdict, vdict, list) gives a child table
    instead of a column. ``selector-type`` says how fields are read:
    ``dict`` (default, ``data[F]``), ``dot`` (``"a.b"`` walks nested
    dicts) or ``attr`` (``getattr``, for SDK objects). A missing field is
    ``None``. ``id-col`` names the row's id column: the field of that name
    when the data has one, otherwise generated as a hash of the columns in
    ``id-from`` (default: every other column of the row), so the same
    content always gets the same id. At the root, an hdict translates one
    dict or a list of dicts (a row each).

``vdict``
    A row per key/value pair of a dict: ``key-col`` and, for leaf values,
    ``val-col``. With an ``hdict`` (without ``table-name``) as
    ``translator``, the value's fields become columns of the same row.

``list``
    A row per element: ``val-col`` for leaf elements, or an ``hdict``
    (without ``table-name``) whose fields become columns of the same row.
    ``index-col`` optionally keeps the position.

Every table-making translator needs ``table-name``, except an hdict that
is a list element or a vdict value (its columns join that table). A child
table (a table-making translator under an hdict field) needs ``parent-key``:
the column, in the child table, that holds the parent row's ``id-col``
value; so the parent needs an ``id-col``. A root translator may also have a
``parent-key``: its value is then passed to :meth:`Translator.translate`
(used to link the rows of one API call to a row read by another call).
``doc`` documents a table, ``col-docs`` (``{column: text}``) documents
columns that have no field entry (parent key, id, key, value, index).
"""

import collections.abc
import hashlib
import json

from protection import exceptions

VALUE = "value"
HDICT = "hdict"
VDICT = "vdict"
LIST = "list"
TYPES = (VALUE, HDICT, VDICT, LIST)

SELECTORS = ("dict", "dot", "attr")

_COMMON = {"translation-type"}
_TABLE_KEYS = {"table-name", "parent-key", "doc", "col-docs"}
_ALLOWED = {
    VALUE: _COMMON,
    HDICT: _COMMON | _TABLE_KEYS | {"id-col", "id-from", "selector-type",
                                    "field-translators"},
    VDICT: _COMMON | _TABLE_KEYS | {"key-col", "val-col", "translator"},
    LIST: _COMMON | _TABLE_KEYS | {"val-col", "index-col", "translator"},
}
_FIELD_KEYS = {"fieldname", "col", "translator", "doc"}

# Where a translator sits; decides which keys it needs or must not have.
_ROOT, _FIELD, _ELEMENT = "root", "field", "element"


class TranslatorError(exceptions.StackvaultError):
    """A translator declaration is invalid (a bug in the datasource)."""


class MalformedData(exceptions.StackvaultError):
    """The data does not have the shape its translator declares."""


class Table:
    """A table's schema: name, ordered columns, and what they mean."""

    def __init__(self, name, columns, doc="", column_docs=None):
        self.name = name
        self.columns = tuple(columns)
        self.doc = doc
        self.column_docs = dict(column_docs or {})

    def __repr__(self):
        return f"Table({self.name!r}, {self.columns!r})"


def to_scalar(value):
    """A cell value: scalars as they are, containers as a JSON string."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (collections.abc.Mapping, list, tuple, set)):
        if isinstance(value, set):
            value = sorted(value, key=str)
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def row_hash(pairs):
    """The stable id of a row: a hash of ``(column, value)`` pairs."""
    text = json.dumps([[c, v] for c, v in pairs], sort_keys=True,
                      separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _kind(value):
    if isinstance(value, collections.abc.Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a {type(value).__name__}"


class _Value:
    table = None

    def cell(self, data):
        return to_scalar(data)


class _HDict:
    """The fields of one dict: the columns of one row, and child tables.

    ``row_table`` is the table that holds the row (its own, or the list's
    or vdict's when this hdict is an element).
    """

    table = None

    def __init__(self, spec, where, build, row_table):
        self.where = where
        self.selector = spec.get("selector-type", "dict")
        if self.selector not in SELECTORS:
            raise TranslatorError(
                f"{where}: selector-type must be one of "
                f"{', '.join(SELECTORS)}, not {self.selector!r}")
        fields = spec.get("field-translators")
        if not isinstance(fields, (list, tuple)) or not fields:
            raise TranslatorError(
                f"{where}: an hdict needs a non-empty list "
                f"'field-translators'")
        self.id_col = spec.get("id-col")
        if self.id_col is not None and (
                not isinstance(self.id_col, str) or not self.id_col):
            raise TranslatorError(f"{where}: 'id-col' must be a name")
        self.scalars = []      # (fieldname, column, node)
        self.children = []     # (fieldname, node)
        self.docs = {}
        for i, field in enumerate(fields):
            self._add_field(field, f"{where}.field-translators[{i}]", build,
                            row_table)
        self._settle_id(spec)

    def _add_field(self, field, fwhere, build, row_table):
        if not isinstance(field, collections.abc.Mapping):
            raise TranslatorError(f"{fwhere}: must be a dict")
        _check_keys(field, _FIELD_KEYS, fwhere)
        name = field.get("fieldname")
        if not isinstance(name, str) or not name:
            raise TranslatorError(f"{fwhere}: 'fieldname' is required")
        fwhere = f"{self.where}.{name}"
        node = build(field.get("translator", {"translation-type": VALUE}),
                     fwhere, _FIELD, row_table)
        if isinstance(node, _Value):
            col = field.get("col", name)
            if not isinstance(col, str) or not col:
                raise TranslatorError(f"{fwhere}: 'col' must be a name")
            self.scalars.append((name, col, node))
            if field.get("doc"):
                self.docs[col] = field["doc"]
            return
        if "col" in field:
            raise TranslatorError(
                f"{fwhere}: 'col' is meaningless for a field that makes "
                f"table {node.table.name!r}")
        if self.id_col is None:
            raise TranslatorError(
                f"{fwhere}: child table {node.table.name!r} links to "
                f"its parent row through the parent's 'id-col', which "
                f"{self.where} does not declare")
        self.children.append((name, node))

    def _settle_id(self, spec):
        """The row id column: declared, natural or hashed; documented."""
        where = self.where
        cols = [c for _n, c, _v in self.scalars]
        self.natural_id = self.id_col in cols
        self.id_from = spec.get("id-from")
        if self.id_from is not None:
            if self.id_col is None:
                raise TranslatorError(f"{where}: 'id-from' needs 'id-col'")
            if (not isinstance(self.id_from, (list, tuple))
                    or not self.id_from):
                raise TranslatorError(
                    f"{where}: 'id-from' must be a non-empty list of "
                    f"column names")
        if self.id_col is not None:
            cols = [self.id_col] + [c for c in cols if c != self.id_col]
            if self.id_col not in self.docs:
                basis = (", ".join(self.id_from) if self.id_from
                         else "the row's other columns")
                how = (f"the {self.id_col!r} field, or when absent a hash "
                       f"of " if self.natural_id else "a hash of ")
                self.docs[self.id_col] = f"row id: {how}{basis}"
        self.columns = cols

    def check_id_from(self, table):
        for col in self.id_from or ():
            if col not in table.columns or col == self.id_col:
                raise TranslatorError(
                    f"{self.where}: 'id-from' names {col!r}, which is not "
                    f"another column of table {table.name!r} "
                    f"({', '.join(table.columns)})")

    def _get(self, data, name):
        if self.selector == "attr":
            return getattr(data, name, None)
        if self.selector == "dict":
            return data.get(name)
        value = data
        for part in name.split("."):
            if not isinstance(value, collections.abc.Mapping):
                return None
            value = value.get(part)
        return value

    def fill(self, data, row, out, path):
        """Add this dict's columns to ``row``; child rows go to ``out``."""
        if self.selector != "attr" and not isinstance(
                data, collections.abc.Mapping):
            raise MalformedData(
                f"{path}: expected an object, got {_kind(data)}")
        for name, col, node in self.scalars:
            row[col] = node.cell(self._get(data, name))
        if self.id_col is None:
            return
        if row.get(self.id_col) is None:
            row.pop(self.id_col, None)
            basis = self.id_from or sorted(row)
            row[self.id_col] = row_hash((c, row.get(c)) for c in basis)
        for name, node in self.children:
            node.emit(self._get(data, name), row[self.id_col], out,
                      f"{path}.{name}")


class _TableNode:
    """A translator that makes a table: a named hdict, a vdict, a list."""

    def __init__(self, spec, where, context, parent_table):
        self.where = where
        self.name = spec.get("table-name")
        if not isinstance(self.name, str) or not self.name:
            raise TranslatorError(f"{where}: 'table-name' is required")
        self.parent_key = spec.get("parent-key")
        if context == _FIELD and self.parent_key is None:
            raise TranslatorError(
                f"{where}: child table {self.name!r} needs 'parent-key' "
                f"(its column that holds the parent row's id)")
        if self.parent_key is not None and (
                not isinstance(self.parent_key, str) or not self.parent_key):
            raise TranslatorError(f"{where}: 'parent-key' must be a name")
        self.parent_table = parent_table
        self.table = None

    def make_table(self, spec, prefix, prefix_docs, body, body_docs,
                   id_col=None):
        """Columns: the row id, the parent key, ``prefix``, ``body``."""
        columns, docs = [], {}
        if id_col is not None:
            columns.append(id_col)
            body = [c for c in body if c != id_col]
        if self.parent_key is not None:
            columns.append(self.parent_key)
            docs[self.parent_key] = (
                f"id of the parent row in {self.parent_table}"
                if self.parent_table else "id of the row this one belongs to")
        columns += list(prefix) + list(body)
        docs.update(prefix_docs)
        docs.update(body_docs)
        seen = set()
        for col in columns:
            if col in seen:
                raise TranslatorError(
                    f"{self.where}: table {self.name!r} has column {col!r} "
                    f"twice")
            seen.add(col)
        col_docs = spec.get("col-docs") or {}
        if not isinstance(col_docs, collections.abc.Mapping):
            raise TranslatorError(f"{self.where}: 'col-docs' must be a dict")
        for col, text in col_docs.items():
            if col not in seen:
                raise TranslatorError(
                    f"{self.where}: col-docs names column {col!r}, which "
                    f"table {self.name!r} does not have "
                    f"({', '.join(columns)})")
            docs[col] = text
        self.table = Table(self.name, columns, spec.get("doc", ""),
                           {c: docs.get(c, "") for c in columns})

    def new_row(self, parent_id):
        return {self.parent_key: parent_id} if self.parent_key else {}

    def add(self, out, row):
        out[self.name].append({c: row.get(c) for c in self.table.columns})


class _HDictTable(_TableNode):
    def __init__(self, spec, where, build, context, parent_table):
        super().__init__(spec, where, context, parent_table)
        self.body = _HDict(spec, where, build, self.name)
        self.make_table(spec, (), {}, self.body.columns, self.body.docs,
                        id_col=self.body.id_col)
        self.body.check_id_from(self.table)

    def emit(self, data, parent_id, out, path, many=False):
        if data is None:
            return
        if many and isinstance(data, (list, tuple)):
            items = [(item, f"{path}[{i}]") for i, item in enumerate(data)]
        else:
            items = [(data, path)]
        for item, where in items:
            row = self.new_row(parent_id)
            self.body.fill(item, row, out, where)
            self.add(out, row)


class _Container(_TableNode):
    """What vdicts and lists share: values or flattened hdict elements."""

    kind = None

    def __init__(self, spec, where, build, context, parent_table, prefix,
                 prefix_docs):
        super().__init__(spec, where, context, parent_table)
        sub = spec.get("translator", {"translation-type": VALUE})
        self.element = build(sub, f"{where}.translator", _ELEMENT, self.name)
        self.val_col = spec.get("val-col")
        if isinstance(self.element, _Value):
            if not isinstance(self.val_col, str) or not self.val_col:
                raise TranslatorError(
                    f"{where}: a {self.kind} of values needs 'val-col'")
            body = [self.val_col]
            body_docs = {self.val_col: "the value (JSON text when it is "
                                       "not a scalar)"}
            id_col = None
        else:
            if self.val_col is not None:
                raise TranslatorError(
                    f"{where}: 'val-col' is meaningless when the "
                    f"{self.kind}'s translator is an hdict (its fields are "
                    f"the columns)")
            body, body_docs = self.element.columns, self.element.docs
            id_col = self.element.id_col
        self.make_table(spec, prefix, prefix_docs, body, body_docs,
                        id_col=id_col)
        if isinstance(self.element, _HDict):
            self.element.check_id_from(self.table)

    def fill_element(self, value, row, out, path):
        if self.val_col:
            row[self.val_col] = self.element.cell(value)
        else:
            self.element.fill(value, row, out, path)


class _VDict(_Container):
    kind = "vdict"

    def __init__(self, spec, where, build, context, parent_table):
        key_col = spec.get("key-col")
        if not isinstance(key_col, str) or not key_col:
            raise TranslatorError(f"{where}: a vdict needs 'key-col'")
        self.key_col = key_col
        super().__init__(spec, where, build, context, parent_table,
                         [key_col], {key_col: "the key"})

    def emit(self, data, parent_id, out, path, many=False):
        if data is None:
            return
        if not isinstance(data, collections.abc.Mapping):
            raise MalformedData(
                f"{path}: expected an object, got {_kind(data)}")
        for key, value in data.items():
            row = self.new_row(parent_id)
            row[self.key_col] = to_scalar(key)
            self.fill_element(value, row, out, f"{path}.{key}")
            self.add(out, row)


class _List(_Container):
    kind = "list"

    def __init__(self, spec, where, build, context, parent_table):
        index_col = spec.get("index-col")
        if index_col is not None and (
                not isinstance(index_col, str) or not index_col):
            raise TranslatorError(f"{where}: 'index-col' must be a name")
        self.index_col = index_col
        prefix = [index_col] if index_col else []
        docs = {index_col: "position in the list, from 0"} if index_col \
            else {}
        super().__init__(spec, where, build, context, parent_table, prefix,
                         docs)

    def emit(self, data, parent_id, out, path, many=False):
        if data is None:
            return
        if not isinstance(data, (list, tuple)):
            raise MalformedData(
                f"{path}: expected a list, got {_kind(data)}")
        for i, element in enumerate(data):
            row = self.new_row(parent_id)
            if self.index_col:
                row[self.index_col] = i
            self.fill_element(element, row, out, f"{path}[{i}]")
            self.add(out, row)


def _check_keys(spec, allowed, where):
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise TranslatorError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))} "
            f"(allowed: {', '.join(sorted(allowed))})")


class Translator:
    """One validated translator tree and the tables it fills.

    ``spec`` is a root translator (an hdict, vdict or list with a
    ``table-name``). Raises :class:`TranslatorError` when it is invalid.
    ``tables`` maps each table it fills to its :class:`Table`, in the
    order they are declared.
    """

    def __init__(self, spec):
        self.tables = {}
        self._names = set()
        self.root = self._build(spec, None, _ROOT, None)
        self.name = self.root.name
        self.parent_key = self.root.parent_key

    def _build(self, spec, where, context, parent_table):
        label = where or "translator"
        if not isinstance(spec, collections.abc.Mapping):
            raise TranslatorError(
                f"{label}: must be a dict, not {type(spec).__name__}")
        if where is None and isinstance(spec.get("table-name"), str):
            label = spec["table-name"]
        kind = spec.get("translation-type")
        if kind not in TYPES:
            raise TranslatorError(
                f"{label}: translation-type must be one of "
                f"{', '.join(TYPES)}, not {kind!r}")
        _check_keys(spec, _ALLOWED[kind], label)
        if kind == VALUE:
            if context == _ROOT:
                raise TranslatorError(
                    f"{label}: a root translator must make a table (hdict, "
                    f"vdict or list), not a value")
            return _Value()
        if context == _ELEMENT:
            if kind != HDICT:
                raise TranslatorError(
                    f"{label}: a list element or vdict value must be a "
                    f"value or an hdict, not a {kind}")
            for key in sorted(_TABLE_KEYS & set(spec)):
                raise TranslatorError(
                    f"{label}: an hdict that is a list element or a vdict "
                    f"value fills its owner's table {parent_table!r}: "
                    f"{key!r} is not allowed here")
            return _HDict(spec, label, self._build, parent_table)
        name = spec.get("table-name")
        if isinstance(name, str):
            if name in self._names:
                raise TranslatorError(
                    f"{label}: duplicate table name {name!r}")
            self._names.add(name)
            # declared order: a parent before its children
            self.tables[name] = None
        cls = {HDICT: _HDictTable, VDICT: _VDict, LIST: _List}[kind]
        node = cls(spec, label, self._build, context, parent_table)
        self.tables[node.name] = node.table
        return node

    def translate(self, data, parent_id=None):
        """``{table name: [row dict, ...]}`` for every table of this
        translator (empty lists included).

        A root hdict takes one dict or a list of dicts (a row each). When
        the root declares a ``parent-key``, ``parent_id`` is required: it
        fills that column of every root row. Raises :class:`MalformedData`
        when the data's shape is not the declared one.
        """
        if self.parent_key is not None and parent_id is None:
            raise TranslatorError(
                f"table {self.name!r} has parent-key {self.parent_key!r}: "
                f"translate() needs parent_id")
        out = {name: [] for name in self.tables}
        self.root.emit(data, parent_id, out, self.name, many=True)
        return out


class Catalog:
    """Several translators of one datasource; no table name twice."""

    def __init__(self, translators):
        self.translators = {}
        self.tables = {}
        for tr in translators:
            if not isinstance(tr, Translator):
                tr = Translator(tr)
            for name, table in tr.tables.items():
                if name in self.tables:
                    raise TranslatorError(
                        f"duplicate table name {name!r} (in translators "
                        f"{self._owner(name)!r} and {tr.name!r})")
                self.tables[name] = table
            self.translators[tr.name] = tr

    def _owner(self, table):
        for name, tr in self.translators.items():
            if table in tr.tables:
                return name
        return None

    def __getitem__(self, name):
        return self.translators[name]

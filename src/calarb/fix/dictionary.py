"""Data dictionaries: which fields a message may carry, which are required, their types,
enumerations and repeating groups, and validation of a decoded message against them.

Dictionaries load from QuickFIX's XML format (``<fix><header/><trailer/><messages/>
<components/><fields/></fix>``), or are built in code (`calarb.fix.messages.builtin_dictionary`).
Validation raises `MessageRejected` naming the SessionRejectReason and the tag; the checks
run in a fixed order (structure, MsgType, required fields, then every field in tag order:
repeated, empty, format, enumeration, known tag, allowed for the message, group count) so that
the first problem reported is deterministic.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

from calarb.fix.codec import FixMessage
from calarb.fix.errors import MessageRejected
from calarb.fix.errors import SessionRejectReason as R
from calarb.fix.limits import MAX_STRING_LENGTH

_tag_of = itemgetter(0)

_INT = re.compile(rb"-?\d+")
_FLOAT = re.compile(rb"-?(\d+\.?\d*|\.\d+)")
_TIMESTAMP = re.compile(rb"(\d{4})(\d{2})(\d{2})-(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?")
_TIME_ONLY = re.compile(rb"(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?")
_DATE_ONLY = re.compile(rb"(\d{4})(\d{2})(\d{2})")


def _good_date(match: re.Match[bytes]) -> bool:
    return 1 <= int(match[2]) <= 12 and 1 <= int(match[3]) <= 31


def _good_time(hours: bytes, minutes: bytes, seconds: bytes) -> bool:
    return int(hours) <= 23 and int(minutes) <= 59 and int(seconds) <= 60


def _check_timestamp(value: bytes) -> bool:
    match = _TIMESTAMP.fullmatch(value)
    return bool(match) and _good_date(match) and _good_time(match[4], match[5], match[6])


def _check_time_only(value: bytes) -> bool:
    match = _TIME_ONLY.fullmatch(value)
    return bool(match) and _good_time(match[1], match[2], match[3])


def _check_date_only(value: bytes) -> bool:
    match = _DATE_ONLY.fullmatch(value)
    return bool(match) and _good_date(match)


FORMAT_CHECKS = {
    "INT": lambda v: _INT.fullmatch(v) is not None,
    "NUMINGROUP": lambda v: _INT.fullmatch(v) is not None,
    "SEQNUM": lambda v: _INT.fullmatch(v) is not None,
    "LENGTH": lambda v: _INT.fullmatch(v) is not None,
    "DAYOFMONTH": lambda v: _INT.fullmatch(v) is not None,
    "FLOAT": lambda v: _FLOAT.fullmatch(v) is not None,
    "PRICE": lambda v: _FLOAT.fullmatch(v) is not None,
    "AMT": lambda v: _FLOAT.fullmatch(v) is not None,
    "QTY": lambda v: _FLOAT.fullmatch(v) is not None,
    "PRICEOFFSET": lambda v: _FLOAT.fullmatch(v) is not None,
    "PERCENTAGE": lambda v: _FLOAT.fullmatch(v) is not None,
    "CHAR": lambda v: len(v) == 1,
    "BOOLEAN": lambda v: v in (b"Y", b"N"),
    "UTCTIMESTAMP": _check_timestamp,
    "TIME": _check_timestamp,
    "UTCTIMEONLY": _check_time_only,
    "UTCDATEONLY": _check_date_only,
    "UTCDATE": _check_date_only,
}
RAW_DATA_TYPES = frozenset({"DATA", "XMLDATA"})
"""Types whose values may be longer than `MAX_STRING_LENGTH` (bounded by the message size)."""
MULTI_VALUE_TYPES = frozenset({"MULTIPLEVALUESTRING", "MULTIPLECHARVALUE", "MULTIPLESTRINGVALUE"})


@dataclass(slots=True)
class FieldDef:
    number: int
    name: str
    type: str
    values: frozenset[bytes] | None = None


@dataclass(slots=True)
class GroupDef:
    """A repeating group: NumInGroup tag, delimiter (first field of every entry), members."""

    count_tag: int
    delimiter: int
    order: tuple[int, ...]
    required: tuple[int, ...]
    groups: dict[int, GroupDef]
    fields: frozenset[int] = field(default_factory=frozenset)
    position: dict[int, int] = field(default_factory=dict)
    """Member tag -> its place in the definition (entries keep this order)."""

    def __post_init__(self) -> None:
        self.fields = frozenset(self.order)
        self.position = {}
        for index, tag in enumerate(self.order):
            self.position.setdefault(tag, index)


@dataclass(slots=True)
class MessageDef:
    msg_type: bytes
    name: str
    admin: bool
    order: tuple[int, ...]
    required: tuple[int, ...]
    groups: dict[int, GroupDef]
    fields: frozenset[int] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        self.fields = frozenset(self.order)


@dataclass(slots=True)
class Section:
    """One level of a parsed message: its fields, and the entries of each group in it."""

    fields: list[tuple[int, bytes]] = field(default_factory=list)
    groups: list[tuple[int, list[Section]]] = field(default_factory=list)


@dataclass(slots=True)
class Structure:
    header: Section
    body: Section
    trailer: Section
    out_of_order_tag: int | None
    group_problem: MessageRejected | None = None
    """The first repeating-group entry found out of order (373=15, the tag found)."""


class DataDictionary:
    """Fields, header, trailer and messages of one FIX version."""

    def __init__(
        self,
        begin_string: str,
        fields: dict[int, FieldDef],
        header: MessageDef,
        trailer: MessageDef,
        messages: dict[bytes, MessageDef],
    ) -> None:
        self.begin_string = begin_string
        self.field_defs = fields
        self.header = header
        self.trailer = trailer
        self.messages = messages
        self.check_fields_have_values = True
        self.check_fields_out_of_order = True
        self.check_user_defined_fields = True

    # --- loading -------------------------------------------------------------------------

    @classmethod
    def from_xml(cls, path: str | Path) -> DataDictionary:
        root = ET.parse(path).getroot()
        begin_string = f"{root.get('type', 'FIX')}.{root.get('major')}.{root.get('minor')}"
        fields: dict[int, FieldDef] = {}
        number_of: dict[str, int] = {}
        for element in root.iterfind("fields/field"):
            number = int(element.get("number", "0"))
            values = [v.get("enum", "").encode() for v in element.iterfind("value")]
            name = element.get("name", "")
            fields[number] = FieldDef(
                number, name, element.get("type", "STRING"), frozenset(values) or None
            )
            number_of[name] = number
        components = {c.get("name"): c for c in root.iterfind("components/component")}

        def expand(element: ET.Element, required_here: bool = True):
            order: list[int] = []
            required: list[int] = []
            groups: dict[int, GroupDef] = {}
            for child in element:
                name = child.get("name", "")
                is_required = required_here and child.get("required") == "Y"
                if child.tag == "field":
                    tag = number_of[name]
                    order.append(tag)
                    if is_required:
                        required.append(tag)
                elif child.tag == "group":
                    tag = number_of[name]
                    order.append(tag)
                    if is_required:
                        required.append(tag)
                    sub_order, sub_required, sub_groups = expand(child)
                    groups[tag] = GroupDef(
                        tag, sub_order[0], tuple(sub_order), tuple(sub_required), sub_groups
                    )
                elif child.tag == "component":
                    sub_order, sub_required, sub_groups = expand(components[name], is_required)
                    order += sub_order
                    required += sub_required
                    groups.update(sub_groups)
            return order, required, groups

        def message_def(element: ET.Element, msg_type: bytes, name: str, admin: bool):
            order, required, groups = expand(element)
            return MessageDef(msg_type, name, admin, tuple(order), tuple(sorted(required)), groups)

        header_element = root.find("header")
        trailer_element = root.find("trailer")
        header = message_def(header_element, b"_header_", "Header", True)
        trailer = message_def(trailer_element, b"_trailer_", "Trailer", True)
        messages = {}
        for element in root.iterfind("messages/message"):
            msg_type = element.get("msgtype", "").encode()
            messages[msg_type] = message_def(
                element, msg_type, element.get("name", ""), element.get("msgcat") == "admin"
            )
        return cls(begin_string, fields, header, trailer, messages)

    # --- structure -----------------------------------------------------------------------

    def is_header_field(self, tag: int) -> bool:
        return tag in self.header.fields

    def is_admin(self, msg_type: bytes) -> bool:
        definition = self.messages.get(msg_type)
        return definition.admin if definition else msg_type in b"012345A"

    def parse_structure(self, message: FixMessage) -> Structure:
        """Split fields into header, body (with groups) and trailer, noting misplaced tags."""
        fields = message.fields
        header, body, trailer = Section(), Section(), Section()
        header_fields = self.header.fields
        trailer_fields = self.trailer.fields
        definition = self.messages.get(message.msg_type)
        body_groups = definition.groups if definition else {}
        out_of_order: int | None = None
        problems: list[MessageRejected] = []
        state = 0  # 0 header, 1 body, 2 trailer
        i, n = 0, len(fields)
        while i < n:
            tag = fields[i][0]
            if tag in header_fields:
                if state != 0 and out_of_order is None:
                    out_of_order = tag
                header.fields.append(fields[i])
                i += 1
                if tag in self.header.groups:
                    i = _parse_group(fields, i, self.header.groups[tag], header, problems)
            elif tag in trailer_fields:
                state = 2
                trailer.fields.append(fields[i])
                i += 1
            else:
                if state == 2 and out_of_order is None:
                    out_of_order = tag
                state = 1
                body.fields.append(fields[i])
                i += 1
                if tag in body_groups:
                    i = _parse_group(fields, i, body_groups[tag], body, problems)
        return Structure(header, body, trailer, out_of_order, problems[0] if problems else None)

    # --- validation ----------------------------------------------------------------------

    def validate(self, message: FixMessage) -> Structure:
        """Raise MessageRejected for the first problem found; return the parsed structure."""
        structure = self.parse_structure(message)
        if self.check_fields_out_of_order and structure.out_of_order_tag is not None:
            raise MessageRejected(R.TAG_SPECIFIED_OUT_OF_REQUIRED_ORDER, structure.out_of_order_tag)
        if structure.group_problem is not None:
            raise structure.group_problem
        msg_type = message.msg_type
        definition = self.messages.get(msg_type)
        if definition is None:
            raise MessageRejected(R.INVALID_MSGTYPE, 35, f"MsgType {msg_type!r} is not defined")
        _check_required(structure.header, self.header.required, self.header.groups)
        _check_required(structure.trailer, self.trailer.required, {})
        _check_required(structure.body, definition.required, definition.groups)
        self._iterate(structure.header, self.header.fields, self.header.groups, True)
        self._iterate(structure.trailer, self.trailer.fields, {}, True)
        self._iterate(structure.body, definition.fields, definition.groups, False)
        return structure

    def _iterate(
        self,
        section: Section,
        allowed: frozenset[int],
        groups: dict[int, GroupDef],
        header_or_trailer: bool,
    ) -> None:
        last = None
        field_defs = self.field_defs
        for tag, value in sorted(section.fields, key=_tag_of):
            if tag == last:
                raise MessageRejected(R.TAG_APPEARS_MORE_THAN_ONCE, tag)
            last = tag
            if not value:
                if self.check_fields_have_values:
                    raise MessageRejected(R.TAG_SPECIFIED_WITHOUT_A_VALUE, tag)
                continue
            definition = field_defs.get(tag)
            if len(value) > MAX_STRING_LENGTH and (
                definition is None or definition.type not in RAW_DATA_TYPES
            ):
                raise MessageRejected(
                    R.VALUE_IS_INCORRECT,
                    tag,
                    f"{len(value)} bytes, longer than {MAX_STRING_LENGTH}",
                )
            if definition is not None:
                check = FORMAT_CHECKS.get(definition.type)
                if check is not None and not check(value):
                    raise MessageRejected(
                        R.INCORRECT_DATA_FORMAT, tag, f"{value!r} is not a valid {definition.type}"
                    )
                if definition.values is not None:
                    items = value.split(b" ") if definition.type in MULTI_VALUE_TYPES else (value,)
                    for item in items:
                        if item not in definition.values:
                            raise MessageRejected(R.VALUE_IS_INCORRECT, tag, f"{item!r}")
            elif self.check_user_defined_fields or tag < 5000:
                raise MessageRejected(R.INVALID_TAG_NUMBER, tag)
            if not header_or_trailer and definition is not None:
                if tag not in allowed:
                    raise MessageRejected(R.TAG_NOT_DEFINED_FOR_MESSAGE_TYPE, tag)
                if tag in groups:
                    entries = sum(len(e) for t, e in section.groups if t == tag)
                    if int(value) != entries:
                        raise MessageRejected(
                            R.INCORRECT_NUMINGROUP_COUNT,
                            tag,
                            f"NumInGroup {int(value)} but {entries} entries",
                        )
        for count_tag, entries in section.groups:
            group = groups.get(count_tag)
            if group is None:
                continue
            for entry in entries:
                self._iterate(entry, group.fields, group.groups, False)


def _parse_group(
    fields: list[tuple[int, bytes]],
    i: int,
    group: GroupDef,
    parent: Section,
    problems: list[MessageRejected],
) -> int:
    """The entries of one group from `fields[i]` on; returns where the group ends. A member
    before the first delimiter, or a member placed before one that precedes it in the
    definition, is noted in `problems` (373=15, the tag found) and parsing goes on."""
    entries: list[Section] = []
    current: Section | None = None
    members = group.fields
    position = group.position
    last = 0
    n = len(fields)
    while i < n:
        tag = fields[i][0]
        if tag == group.delimiter:
            current = Section()
            entries.append(current)
            last = 0
        elif tag not in members:
            break
        else:
            place = position[tag]
            if current is None or place < last:
                text = (
                    f"group {group.count_tag} must start with its delimiter {group.delimiter}"
                    if current is None
                    else f"tag {tag} is out of order in group {group.count_tag}"
                )
                problems.append(MessageRejected(R.REPEATING_GROUP_FIELDS_OUT_OF_ORDER, tag, text))
                if current is None:
                    current = Section()
                    entries.append(current)
            last = place
        current.fields.append(fields[i])
        i += 1
        if tag in group.groups:
            i = _parse_group(fields, i, group.groups[tag], current, problems)
    parent.groups.append((group.count_tag, entries))
    return i


def _check_required(
    section: Section, required: tuple[int, ...], groups: dict[int, GroupDef]
) -> None:
    present = {tag for tag, _ in section.fields}
    for tag in required:
        if tag not in present:
            raise MessageRejected(R.REQUIRED_TAG_MISSING, tag)
    for count_tag, entries in section.groups:
        group = groups.get(count_tag)
        if group is None:
            continue
        for entry in entries:
            _check_required(entry, tuple(sorted(group.required)), group.groups)

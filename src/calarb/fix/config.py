"""Session settings, loaded from TOML or from a QuickFIX-style ``.cfg`` (INI) file.

Names follow QuickFIX so that its users recognise them: BeginString, SenderCompID,
TargetCompID, HeartBtInt, ConnectionType, SocketConnectHost/Port, SocketAcceptPort,
ResetOnLogon, FileStorePath, DataDictionary, ... In TOML, ``[default]`` holds shared keys and
each ``[[session]]`` one session; in a ``.cfg`` file, ``[DEFAULT]`` and ``[SESSION]`` sections.
Relative DataDictionary and TLS paths are relative to the settings file; FileStorePath is
relative to the working directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Annotated, Any

import msgspec

from calarb.core.config_schema import (
    ConfigError,
    NonEmptyStr,
    Port,
    PositiveFloat,
    PositiveInt,
    Schema,
    load_toml,
    validate,
)
from calarb.fix.limits import MAX_MESSAGE_SIZE, MAX_WRITE_BUFFER
from calarb.fix.store import STORE_WINDOW

SUPPORTED_BEGIN_STRINGS = ("FIX.4.2", "FIX.4.4")


@dataclass(frozen=True, slots=True)
class SessionSettings:
    begin_string: str
    sender_comp_id: str
    target_comp_id: str
    connection_type: str = "initiator"  # or "acceptor"
    heartbeat_interval_s: int = 30
    host: str = "127.0.0.1"
    port: int = 0
    reset_on_logon: bool = False
    reset_on_logout: bool = False
    reset_on_disconnect: bool = False
    file_store_path: str | None = None  # None: in-memory store
    fsync: bool = False
    data_dictionary: str | None = None
    validate_fields_have_values: bool = True
    check_latency: bool = True
    max_latency_s: int = 120
    logon_timeout_s: float = 10.0
    logout_timeout_s: float = 2.0
    reconnect_interval_s: float = 1.0
    reconnect_max_interval_s: float = 30.0
    username: str | None = None
    password: str | None = None
    persist_messages: bool = True
    tls_certificate: str | None = None
    tls_private_key: str | None = None
    tls_ca_file: str | None = None
    max_message_size: int = MAX_MESSAGE_SIZE
    write_buffer_limit: int = MAX_WRITE_BUFFER
    store_window: int = STORE_WINDOW
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.heartbeat_interval_s <= 0:
            raise ValueError(
                f"HeartBtInt {self.heartbeat_interval_s} must be at least 1 second "
                "(0 or less would turn liveness checks off)"
            )

    @property
    def is_initiator(self) -> bool:
        return self.connection_type == "initiator"

    @property
    def session_key(self) -> tuple[str, str, str]:
        return (self.begin_string, self.sender_comp_id, self.target_comp_id)


# QuickFIX key -> (field name, converter)
def _bool(text: str | bool) -> bool:
    if isinstance(text, bool):
        return text
    value = str(text).strip().upper()
    if value in ("Y", "YES", "TRUE", "1"):
        return True
    if value in ("N", "NO", "FALSE", "0"):
        return False
    raise ValueError(f"not a Y/N value: {text!r}")


YesNo = bool | Annotated[str, msgspec.Meta(pattern=r"^(?i:Y|N|YES|NO|TRUE|FALSE|1|0)$")]
Setting = str | int | float | bool


class SessionSchema(Schema, kw_only=True):
    """The keys of one session, QuickFIX's names: misspelt or unknown keys are errors.

    The second group are QuickFIX keys calarb reads but does not act on (kept in `extra`)."""

    BeginString: NonEmptyStr
    SenderCompID: NonEmptyStr
    TargetCompID: NonEmptyStr
    ConnectionType: Annotated[str, msgspec.Meta(pattern=r"^(?i:initiator|acceptor)$")] = "initiator"
    HeartBtInt: PositiveInt = 30
    SocketConnectHost: NonEmptyStr | None = None
    SocketAcceptHost: NonEmptyStr | None = None
    SocketConnectPort: Port | None = None
    SocketAcceptPort: Port | None = None
    ResetOnLogon: YesNo = False
    ResetOnLogout: YesNo = False
    ResetOnDisconnect: YesNo = False
    FileStorePath: NonEmptyStr | None = None
    FileStoreSync: YesNo = False
    DataDictionary: NonEmptyStr | None = None
    ValidateFieldsHaveValues: YesNo = True
    CheckLatency: YesNo = True
    MaxLatency: PositiveInt = 120
    LogonTimeout: PositiveFloat = 10.0
    LogoutTimeout: PositiveFloat = 2.0
    ReconnectInterval: PositiveFloat = 1.0
    ReconnectMaxInterval: PositiveFloat = 30.0
    Username: str | None = None
    Password: str | None = None
    PersistMessages: YesNo = True
    SocketCertificateFile: NonEmptyStr | None = None
    SocketPrivateKeyFile: NonEmptyStr | None = None
    SocketCAFile: NonEmptyStr | None = None
    MaxMessageSize: PositiveInt = 1 << 20
    WriteBufferLimit: PositiveInt | None = None  # bytes unread by the peer before a cut-off
    StoreWindow: PositiveInt | None = None  # messages a store keeps in memory
    # read, not acted on
    SocketReuseAddress: YesNo = True
    SocketNodelay: YesNo = True
    StartTime: Setting | None = None
    EndTime: Setting | None = None
    StartDay: Setting | None = None
    EndDay: Setting | None = None
    TimeZone: Setting | None = None
    UseLocalTime: YesNo = False
    UseDataDictionary: YesNo = True
    TransportDataDictionary: Setting | None = None
    AppDataDictionary: Setting | None = None
    DefaultApplVerID: Setting | None = None
    ValidateUserDefinedFields: YesNo = True
    AllowUnknownMsgFields: YesNo = False
    FileLogPath: Setting | None = None
    SessionQualifier: Setting | None = None
    SendRedundantResendRequests: YesNo = False
    RefreshOnLogon: YesNo = False


_KEYS: dict[str, tuple[str, object]] = {
    "BeginString": ("begin_string", str),
    "SenderCompID": ("sender_comp_id", str),
    "TargetCompID": ("target_comp_id", str),
    "ConnectionType": ("connection_type", lambda v: str(v).lower()),
    "HeartBtInt": ("heartbeat_interval_s", int),
    "SocketConnectHost": ("host", str),
    "SocketAcceptHost": ("host", str),
    "SocketConnectPort": ("port", int),
    "SocketAcceptPort": ("port", int),
    "ResetOnLogon": ("reset_on_logon", _bool),
    "ResetOnLogout": ("reset_on_logout", _bool),
    "ResetOnDisconnect": ("reset_on_disconnect", _bool),
    "FileStorePath": ("file_store_path", str),
    "FileStoreSync": ("fsync", _bool),
    "DataDictionary": ("data_dictionary", str),
    "ValidateFieldsHaveValues": ("validate_fields_have_values", _bool),
    "CheckLatency": ("check_latency", _bool),
    "MaxLatency": ("max_latency_s", int),
    "LogonTimeout": ("logon_timeout_s", float),
    "LogoutTimeout": ("logout_timeout_s", float),
    "ReconnectInterval": ("reconnect_interval_s", float),
    "ReconnectMaxInterval": ("reconnect_max_interval_s", float),
    "Username": ("username", str),
    "Password": ("password", str),
    "PersistMessages": ("persist_messages", _bool),
    "SocketCertificateFile": ("tls_certificate", str),
    "SocketPrivateKeyFile": ("tls_private_key", str),
    "SocketCAFile": ("tls_ca_file", str),
    "MaxMessageSize": ("max_message_size", int),
    "WriteBufferLimit": ("write_buffer_limit", int),
    "StoreWindow": ("store_window", int),
}
# Files that ship with the settings resolve beside them; FileStorePath (written at run time)
# resolves from the working directory, as in QuickFIX.
_PATH_FIELDS = ("data_dictionary", "tls_certificate", "tls_private_key", "tls_ca_file")


def settings_from_mapping(
    values: dict[str, object],
    base_dir: Path | None = None,
    variables: dict[str, str] | None = None,
    source: str | Path = "FIX settings",
    where: str = "",
) -> SessionSettings:
    """Build settings from QuickFIX-named keys, checked by `SessionSchema` first (a misspelt
    key is a ConfigError naming `source`, `where` and the key, with the closest real key);
    QuickFIX keys that calarb does not act on go to `extra`."""
    kwargs: dict[str, object] = {}
    extra: dict[str, str] = {}
    substituted: dict[str, Any] = {}
    for key, raw in values.items():
        if isinstance(raw, str) and variables:
            for name, value in variables.items():
                raw = raw.replace(f"${name}", value)
        substituted[key] = raw
    validate(substituted, SessionSchema, source, where, strict=False)
    for key, raw in substituted.items():
        if key in _KEYS:
            name, convert = _KEYS[key]
            try:
                kwargs[name] = convert(raw)  # type: ignore[operator]
            except ValueError as exc:
                raise ValueError(f"setting {key}={raw!r}: {exc}") from None
        else:
            extra[key] = str(raw)
    for required in ("begin_string", "sender_comp_id", "target_comp_id"):
        if required not in kwargs:
            raise ValueError(f"session settings lack {required} (keys given: {sorted(values)})")
    if base_dir is not None:
        for name in _PATH_FIELDS:
            if kwargs.get(name):
                kwargs[name] = str(_resolve(Path(str(kwargs[name])), base_dir))
    return SessionSettings(**kwargs, extra=extra)  # type: ignore[arg-type]


def _resolve(path: Path, base_dir: Path) -> Path:
    """`path` relative to the settings file; a QuickFIX file written for a sibling working
    directory (``../spec/FIX44.xml``) also resolves when spec/ sits beside the settings."""
    if path.is_absolute():
        return path
    direct = base_dir / path
    if direct.exists():
        return direct
    parts = path.parts
    while parts and parts[0] == "..":
        parts = parts[1:]
    fallback = base_dir.joinpath(*parts) if parts else direct
    return fallback if fallback.exists() else direct


def load_settings(
    path: str | Path, variables: dict[str, str] | None = None
) -> list[SessionSettings]:
    """All sessions in a TOML or QuickFIX ``.cfg`` file. ``$NAME`` is replaced from `variables`."""
    path = Path(path)
    base = path.resolve().parent
    blocks: list[dict[str, object]] = []
    if path.suffix == ".toml":
        document = load_toml(path)
        unknown = sorted(set(document) - {"default", "session"})
        if unknown:
            raise ConfigError(f"{path}: {unknown[0]}: unknown table (expected default, session)")
        default = dict(document.get("default", {}))
        for session in document.get("session", []):
            blocks.append({**default, **session})
        where = "session"
    else:
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
        where = "SESSION"
        default: dict[str, object] = {}
        current: dict[str, object] | None = None
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.upper() == "[DEFAULT]":
                current = default
            elif line.upper() == "[SESSION]":
                current = {}
                blocks.append(current)
            elif "=" in line and current is not None:
                key, _, value = line.partition("=")
                current[key.strip()] = value.strip()
            else:
                raise ConfigError(f"{path}: line {number}: cannot read {line!r}")
        blocks = [{**default, **block} for block in blocks]
    if not blocks:
        raise ConfigError(f"{path}: no session ([{where}]) is configured")
    return [
        settings_from_mapping(block, base, variables, path, f"{where}[{index}]")
        for index, block in enumerate(blocks)
    ]


def with_overrides(settings: SessionSettings, **changes: object) -> SessionSettings:
    known = {f.name for f in fields(SessionSettings)}
    unknown = set(changes) - known
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}")
    return replace(settings, **changes)

"""Rejection reasons and the exceptions that carry them to the session.

Reason codes and their wording are the FIX specification's enumerations of
SessionRejectReason(373) and BusinessRejectReason(380).
"""

from __future__ import annotations

import enum


class SessionRejectReason(enum.IntEnum):
    INVALID_TAG_NUMBER = 0
    REQUIRED_TAG_MISSING = 1
    TAG_NOT_DEFINED_FOR_MESSAGE_TYPE = 2
    UNDEFINED_TAG = 3
    TAG_SPECIFIED_WITHOUT_A_VALUE = 4
    VALUE_IS_INCORRECT = 5
    INCORRECT_DATA_FORMAT = 6
    DECRYPTION_PROBLEM = 7
    SIGNATURE_PROBLEM = 8
    COMPID_PROBLEM = 9
    SENDING_TIME_ACCURACY_PROBLEM = 10
    INVALID_MSGTYPE = 11
    XML_VALIDATION_ERROR = 12
    TAG_APPEARS_MORE_THAN_ONCE = 13
    TAG_SPECIFIED_OUT_OF_REQUIRED_ORDER = 14
    REPEATING_GROUP_FIELDS_OUT_OF_ORDER = 15
    INCORRECT_NUMINGROUP_COUNT = 16
    NON_DATA_VALUE_INCLUDES_FIELD_DELIMITER = 17

    @property
    def text(self) -> str:
        return _SESSION_REJECT_TEXT[self]


_SESSION_REJECT_TEXT = {
    SessionRejectReason.INVALID_TAG_NUMBER: "Invalid tag number",
    SessionRejectReason.REQUIRED_TAG_MISSING: "Required tag missing",
    SessionRejectReason.TAG_NOT_DEFINED_FOR_MESSAGE_TYPE: "Tag not defined for this message type",
    SessionRejectReason.UNDEFINED_TAG: "Undefined Tag",
    SessionRejectReason.TAG_SPECIFIED_WITHOUT_A_VALUE: "Tag specified without a value",
    SessionRejectReason.VALUE_IS_INCORRECT: "Value is incorrect (out of range) for this tag",
    SessionRejectReason.INCORRECT_DATA_FORMAT: "Incorrect data format for value",
    SessionRejectReason.DECRYPTION_PROBLEM: "Decryption problem",
    SessionRejectReason.SIGNATURE_PROBLEM: "Signature problem",
    SessionRejectReason.COMPID_PROBLEM: "CompID problem",
    SessionRejectReason.SENDING_TIME_ACCURACY_PROBLEM: "SendingTime accuracy problem",
    SessionRejectReason.INVALID_MSGTYPE: "Invalid MsgType",
    SessionRejectReason.XML_VALIDATION_ERROR: "XML Validation error",
    SessionRejectReason.TAG_APPEARS_MORE_THAN_ONCE: "Tag appears more than once",
    SessionRejectReason.TAG_SPECIFIED_OUT_OF_REQUIRED_ORDER: "Tag specified out of required order",
    SessionRejectReason.REPEATING_GROUP_FIELDS_OUT_OF_ORDER: "Repeating group fields out of order",
    SessionRejectReason.INCORRECT_NUMINGROUP_COUNT: "Incorrect NumInGroup count for repeating group",
    SessionRejectReason.NON_DATA_VALUE_INCLUDES_FIELD_DELIMITER: "Non Data value includes field delimiter (SOH character)",
}


class BusinessRejectReason(enum.IntEnum):
    OTHER = 0
    UNKNOWN_ID = 1
    UNKNOWN_SECURITY = 2
    UNSUPPORTED_MESSAGE_TYPE = 3
    APPLICATION_NOT_AVAILABLE = 4
    CONDITIONALLY_REQUIRED_FIELD_MISSING = 5
    NOT_AUTHORIZED = 6

    @property
    def text(self) -> str:
        return {
            0: "Other",
            1: "Unknown ID",
            2: "Unknown Security",
            3: "Unsupported Message Type",
            4: "Application not available",
            5: "Conditionally Required Field Missing",
            6: "Not authorized",
        }[int(self)]


class MessageRejected(Exception):
    """A message fails validation: the session answers with Reject(3).

    `tag` is the offending tag (RefTagID 371) when there is one.
    """

    def __init__(
        self, reason: SessionRejectReason, tag: int | None = None, detail: str = ""
    ) -> None:
        where = f" (tag {tag})" if tag is not None else ""
        super().__init__(f"{reason.text}{where}{': ' + detail if detail else ''}")
        self.reason = reason
        self.tag = tag


class BusinessMessageRejected(Exception):
    """The application refuses a message: the session answers with BusinessMessageReject(j)."""

    def __init__(
        self, reason: BusinessRejectReason, tag: int | None = None, text: str = ""
    ) -> None:
        super().__init__(text or reason.text)
        self.reason = reason
        self.tag = tag
        self.text = text or reason.text


class UnsupportedMessageType(BusinessMessageRejected):
    def __init__(self, msg_type: bytes) -> None:
        super().__init__(BusinessRejectReason.UNSUPPORTED_MESSAGE_TYPE)
        self.msg_type = msg_type


class LogonRejected(Exception):
    """The authentication hook refuses a Logon: the session sends Logout with this text."""

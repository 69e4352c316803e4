"""MoldUDP64 (NASDAQ MoldUDP64 protocol specification v1.00): framing and sans-I/O cores.

Downstream packet: Session (10 bytes, alphanumeric, space padded), Sequence Number (8 bytes,
big-endian, the sequence of the first message in the packet), Message Count (2 bytes), then
that many message blocks, each a 2-byte big-endian Message Length and the Message Data.
A count of 0 is a heartbeat and 0xFFFF the end of session; both carry the next expected
sequence number and no blocks. A request packet (receiver -> re-request server, unicast) is
Session, Sequence Number, Requested Message Count; it is answered with ordinary downstream
packets sent unicast to the requester.

The cores here open no sockets and read no clock: `MoldSender` turns messages into packets,
`RetransmissionServer` turns request packets into answer packets, and `MoldReceiver` turns
packets (and the time passed in) into messages delivered exactly once in sequence order plus
request packets to send. Asyncio adapters live in `calarb.itch.transport`.
"""

from __future__ import annotations

from dataclasses import dataclass

from calarb.itch.mold_history import MessageHistory, SpillFile  # noqa: F401  (re-exported)
from calarb.itch.mold_packets import (  # noqa: F401  (re-exported: the protocol in one import)
    BLOCK_LENGTH_SIZE,
    DEFAULT_HISTORY_LIMIT,
    DEFAULT_MAX_MESSAGES_PER_ANSWER,
    DEFAULT_MAX_PAYLOAD,
    DEFAULT_MAX_REQUESTS_PER_POLL,
    DEFAULT_REQUEST_TIMEOUT_NS,
    END_OF_SESSION_COUNT,
    HEADER,
    HEADER_LENGTH,
    HEARTBEAT_COUNT,
    MAX_MESSAGE_LENGTH,
    MAX_MESSAGES_PER_PACKET,
    MAX_REQUEST_COUNT,
    MAX_SEQUENCE,
    REQUEST_LENGTH,
    SESSION_LENGTH,
    DownstreamPacket,
    MoldDecodeError,
    RequestPacket,
    decode_packet,
    decode_request,
    encode_end_of_session,
    encode_heartbeat,
    encode_packet,
    encode_request,
    pack_messages,
    session_bytes,
    session_name,
)
from calarb.itch.mold_receiver import MoldReceiver, ReceiverStats  # noqa: F401  (re-exported)


class MoldSender:
    """Builds downstream packets for one session and keeps the sent messages for retransmission.

    `add` returns the packet completed by the previous messages when the new one does not fit
    (so at most one packet); `flush` sends what is pending. A packet is at most `max_payload`
    bytes (the UDP payload). Only flushed messages enter the history.
    """

    def __init__(
        self,
        session: str | bytes,
        *,
        first_sequence: int = 1,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        history_limit: int = DEFAULT_HISTORY_LIMIT,
        history_spill: SpillFile | None = None,
    ) -> None:
        """`history_limit` messages stay in memory for retransmission; older ones go to
        `history_spill` (answered from it) or, without one, are no longer answered."""
        if max_payload < HEADER_LENGTH + BLOCK_LENGTH_SIZE:
            raise ValueError(f"max payload {max_payload} cannot hold a header and one block")
        if first_sequence < 1:
            raise ValueError(f"first sequence must be at least 1, got {first_sequence}")
        self.session = session_bytes(session)
        self.max_payload = max_payload
        self.history = MessageHistory(first_sequence, history_limit, history_spill)
        self._pending: list[bytes] = []
        self._pending_bytes = HEADER_LENGTH
        self.ended = False
        self.packets_built = 0

    @property
    def next_sequence(self) -> int:
        """The sequence number the next added message will get."""
        return self.history.next_sequence + len(self._pending)

    @property
    def pending_messages(self) -> int:
        """Messages added but not yet in a packet."""
        return len(self._pending)

    @property
    def sent_sequence(self) -> int:
        """The sequence after the last message in a built packet (what heartbeats announce)."""
        return self.history.next_sequence

    def add(self, message: bytes) -> list[bytes]:
        if self.ended:
            raise RuntimeError(f"session {session_name(self.session)!r} has ended")
        block = BLOCK_LENGTH_SIZE + len(message)
        if HEADER_LENGTH + block > self.max_payload or len(message) > MAX_MESSAGE_LENGTH:
            raise ValueError(
                f"message of {len(message)} bytes does not fit in a {self.max_payload}-byte packet"
            )
        packets = []
        if (
            self._pending_bytes + block > self.max_payload
            or len(self._pending) == MAX_MESSAGES_PER_PACKET
        ):
            packets = self.flush()
        self._pending.append(message)
        self._pending_bytes += block
        return packets

    def flush(self) -> list[bytes]:
        if not self._pending:
            return []
        packet = encode_packet(self.session, self.history.next_sequence, self._pending)
        self.history.extend(self._pending)
        self._pending = []
        self._pending_bytes = HEADER_LENGTH
        self.packets_built += 1
        return [packet]

    def heartbeat(self) -> list[bytes]:
        """Pending messages, then a heartbeat (an end-of-session packet once the session ended)."""
        packets = self.flush()
        encode = encode_end_of_session if self.ended else encode_heartbeat
        packets.append(encode(self.session, self.sent_sequence))
        return packets

    def end_of_session(self) -> list[bytes]:
        """Pending messages, then an end-of-session packet; later `add` calls raise."""
        packets = self.flush()
        self.ended = True
        packets.append(encode_end_of_session(self.session, self.sent_sequence))
        return packets


@dataclass(slots=True)
class RetransmissionStats:
    requests_received: int = 0
    requests_bad: int = 0
    requests_wrong_session: int = 0
    requests_unavailable: int = 0  # asked (partly) for evicted or not yet sent messages
    messages_resent: int = 0
    packets_sent: int = 0


class RetransmissionServer:
    """Answers request packets from a MessageHistory.

    Behaviour: a request of another session, a malformed request or a count of 0 gets no
    answer. The count is capped at `max_messages_per_answer`. Only messages still in the
    history and already sent are answered: an evicted prefix or a not-yet-sent tail is left
    out (and counted in `stats.requests_unavailable`); if nothing remains, no answer.
    """

    def __init__(
        self,
        session: str | bytes,
        history: MessageHistory,
        *,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        max_messages_per_answer: int = DEFAULT_MAX_MESSAGES_PER_ANSWER,
    ) -> None:
        self.session = session_bytes(session)
        self.history = history
        self.max_payload = max_payload
        self.max_messages_per_answer = max_messages_per_answer
        self.stats = RetransmissionStats()
        self.last_error: MoldDecodeError | None = None

    @classmethod
    def for_sender(cls, sender: MoldSender, **options: int) -> RetransmissionServer:
        options.setdefault("max_payload", sender.max_payload)
        return cls(sender.session, sender.history, **options)

    def on_request(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        stats = self.stats
        stats.requests_received += 1
        try:
            request = decode_request(data)
        except MoldDecodeError as error:
            stats.requests_bad += 1
            self.last_error = error
            return []
        if request.session != self.session:
            stats.requests_wrong_session += 1
            return []
        if request.count == 0:
            return []
        count = min(request.count, self.max_messages_per_answer)
        first, messages = self.history.get(request.sequence, count)
        if first != request.sequence or len(messages) < count:
            stats.requests_unavailable += 1
        if not messages:
            return []
        packets = pack_messages(self.session, first, messages, self.max_payload)
        stats.messages_resent += len(messages)
        stats.packets_sent += len(packets)
        return packets

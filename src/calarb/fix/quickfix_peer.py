"""A QuickFIX (C++ engine, Python bindings) counterparty in its own process.

Used by the interoperability tests and `calarb bench fix`. QuickFIX runs in a separate
process because its `SocketAcceptor.stop()` can crash the interpreter, and the `quickfix-ssl`
wheel aborts the process if a Python callback raises (every callback here catches).

    python -m calarb.fix.quickfix_peer --role acceptor|initiator --port P \
        --sender S --target T [--begin FIX.4.4] [--store DIR] [--bench-orders N]

It prints one JSON object per line on stdout (``{"event": "logon"}``, ``{"event": "app",
...}``, ...) and reads commands on stdin: ``order ID`` (send a NewOrderSingle), ``skip N``
(jump our next MsgSeqNum by N, forcing a gap at the peer), ``stop``. As acceptor it answers
each NewOrderSingle with a filled ExecutionReport. With ``--bench-orders N`` the initiator
times N sequential order round trips and then N pipelined orders, prints the figures, stops.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import quickfix as fix

_print_lock = threading.Lock()


def emit(**event) -> None:
    with _print_lock:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()


def new_order(begin: str, cl_ord_id: str) -> fix.Message:
    message = fix.Message()
    header = message.getHeader()
    header.setField(fix.BeginString(begin))
    header.setField(fix.MsgType("D"))
    message.setField(fix.ClOrdID(cl_ord_id))
    message.setField(fix.HandlInst("1"))
    message.setField(fix.Symbol("AAPL"))
    message.setField(fix.Side(fix.Side_BUY))
    message.setField(fix.OrderQty(100))
    message.setField(fix.OrdType(fix.OrdType_LIMIT))
    message.setField(fix.Price(150.25))
    message.setField(fix.TransactTime())
    return message


def execution_report(begin: str, order: fix.Message, exec_id: int) -> fix.Message:
    report = fix.Message()
    report.getHeader().setField(fix.BeginString(begin))
    report.getHeader().setField(fix.MsgType("8"))
    report.setField(fix.OrderID(f"O{exec_id}"))
    report.setField(fix.ExecID(f"E{exec_id}"))
    report.setField(fix.ClOrdID(order.getField(11)))
    report.setField(fix.ExecType(fix.ExecType_TRADE))
    report.setField(fix.OrdStatus(fix.OrdStatus_FILLED))
    report.setField(fix.Symbol(order.getField(55)))
    report.setField(fix.Side(order.getField(54)))
    report.setField(fix.OrderQty(100))
    report.setField(fix.Price(150.25))
    report.setField(fix.LastQty(100))
    report.setField(fix.LastPx(150.25))
    report.setField(fix.LeavesQty(0))
    report.setField(fix.CumQty(100))
    report.setField(fix.AvgPx(150.25))
    report.setField(fix.TransactTime())
    if begin == "FIX.4.2":
        report.setField(fix.ExecTransType("0"))
    return report


class PeerApplication(fix.Application):
    def __init__(self, role: str, begin: str) -> None:
        super().__init__()
        self.role = role
        self.begin = begin
        self.session_id = None
        self.logged_on = threading.Event()
        self.exec_ids = 0
        self.report_arrived = threading.Event()
        self.reports = 0
        self.all_reports = threading.Event()
        self.expected_reports = 0
        self.quiet = False

    def onCreate(self, session_id):
        self.session_id = session_id

    def onLogon(self, session_id):
        try:
            self.session_id = session_id
            self.logged_on.set()
            emit(event="logon")
        except Exception as exc:  # never let an exception reach QuickFIX
            emit(event="error", error=repr(exc))

    def onLogout(self, session_id):
        try:
            self.logged_on.clear()
            emit(event="logout")
        except Exception as exc:
            emit(event="error", error=repr(exc))

    def toAdmin(self, message, session_id):
        pass

    def toApp(self, message, session_id):
        pass

    def fromAdmin(self, message, session_id):
        try:
            msg_type = message.getHeader().getField(35)
            if msg_type in ("2", "4") and not self.quiet:
                fields = {
                    tag: message.getField(tag)
                    for tag in (7, 16, 36, 123)
                    if message.isSetField(tag)
                }
                emit(event="admin", type=msg_type, fields=fields)
        except Exception as exc:
            emit(event="error", error=repr(exc))

    def fromApp(self, message, session_id):
        try:
            header = message.getHeader()
            msg_type = header.getField(35)
            poss_dup = header.isSetField(43) and header.getField(43) == "Y"
            if msg_type == "D" and self.role == "acceptor":
                self.exec_ids += 1
                fix.Session.sendToTarget(
                    execution_report(self.begin, message, self.exec_ids), session_id
                )
            elif msg_type == "8":
                self.reports += 1
                self.report_arrived.set()
                if self.expected_reports and self.reports >= self.expected_reports:
                    self.all_reports.set()
            if not self.quiet:
                emit(event="app", type=msg_type, cl_ord_id=message.getField(11), poss_dup=poss_dup,
                     seq=int(header.getField(34)))  # fmt: skip
        except Exception as exc:
            emit(event="error", error=repr(exc))


def write_settings(args: argparse.Namespace, folder: Path) -> Path:
    lines = [
        "[DEFAULT]",
        f"ConnectionType={args.role}",
        "StartTime=00:00:00",
        "EndTime=00:00:00",
        f"HeartBtInt={args.heartbeat}",
        f"FileStorePath={args.store or folder / 'store'}",
        f"FileLogPath={folder / 'log'}",
        "UseDataDictionary=N",
        "ReconnectInterval=1",
        "ValidateUserDefinedFields=N",
        "ResetOnLogon=Y" if args.reset else "ResetOnLogon=N",
        "[SESSION]",
        f"BeginString={args.begin}",
        f"SenderCompID={args.sender}",
        f"TargetCompID={args.target}",
    ]
    if args.role == "acceptor":
        lines += ["SocketAcceptHost=127.0.0.1", f"SocketAcceptPort={args.port}"]
    else:
        lines += ["SocketConnectHost=127.0.0.1", f"SocketConnectPort={args.port}"]
    path = folder / "quickfix.cfg"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_bench(app: PeerApplication, orders: int) -> None:
    app.quiet = True
    app.logged_on.wait(30)
    samples = []
    for n in range(orders):
        app.report_arrived.clear()
        start = time.perf_counter_ns()
        fix.Session.sendToTarget(new_order(app.begin, f"B{n}"), app.session_id)
        app.report_arrived.wait(10)
        samples.append(time.perf_counter_ns() - start)
    app.reports = 0
    app.expected_reports = orders
    app.all_reports.clear()
    start = time.perf_counter_ns()
    for n in range(orders):
        fix.Session.sendToTarget(new_order(app.begin, f"P{n}"), app.session_id)
    app.all_reports.wait(120)
    elapsed = time.perf_counter_ns() - start
    emit(event="bench", rtt_ns=samples, pipelined_orders=orders, pipelined_ns=elapsed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=["acceptor", "initiator"], required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sender", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--begin", default="FIX.4.4")
    parser.add_argument("--heartbeat", type=int, default=30)
    parser.add_argument("--store", default=None)
    parser.add_argument("--memory-store", action="store_true")
    parser.add_argument("--reset", action="store_true", help="ResetOnLogon=Y")
    parser.add_argument("--bench-orders", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="do not print application events")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="quickfix-peer-") as folder:
        settings = fix.SessionSettings(str(write_settings(args, Path(folder))))
        app = PeerApplication(args.role, args.begin)
        app.quiet = args.quiet
        store = fix.MemoryStoreFactory() if args.memory_store else fix.FileStoreFactory(settings)
        logs = fix.FileLogFactory(settings)
        engine_class = fix.SocketAcceptor if args.role == "acceptor" else fix.SocketInitiator
        engine = engine_class(app, store, settings, logs)
        engine.start()
        emit(event="started", role=args.role, port=args.port)
        if args.bench_orders:
            run_bench(app, args.bench_orders)
        else:
            for line in sys.stdin:
                command, _, argument = line.strip().partition(" ")
                if command == "order":
                    app.logged_on.wait(10)
                    fix.Session.sendToTarget(new_order(args.begin, argument), app.session_id)
                elif command == "skip":
                    session = fix.Session.lookupSession(app.session_id)
                    session.setNextSenderMsgSeqNum(session.getExpectedSenderNum() + int(argument))
                    emit(event="skipped", next=session.getExpectedSenderNum())
                elif command == "stop":
                    break
        engine.stop()
        emit(event="stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())

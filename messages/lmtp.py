"""The LMTP receiver: the site's MTA hands every list address's mail to it.

RCPT TO is resolved at once (550 5.1.1 for an address no list has); after
DATA the message is stored, and only then does each recipient get its 250
(RFC 2033 section 4.2: one reply per accepted recipient). When the database
is unreachable the answer is 451 4.3.0 and the MTA retries later.

`LMTPServer` runs it on an event loop in its own thread, for `manage.py
runlmtp` and for the all-in-one command alike.
"""

import asyncio
import concurrent.futures
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import MISSING, Envelope, Session, syntax
from django.conf import settings
from django.db import connections

from mailman_site.db_connections import job_finished, job_started, lost_while_idle
from messages.addresses import Recipient, UnknownRecipient, resolve_recipient
from messages.inbound import QueueingThread, store_inbound
from messages.lmtp_wire import DataTooLarge, read_data, simple_path
from messages.models import InboundMessage, InboundStatus

logger = logging.getLogger(__name__)

T = TypeVar("T")

IDENT = "mailman-site LMTP"
TEMPORARY_FAILURE = "451 4.3.0 Temporary failure, please try again later"
SHUTTING_DOWN = b"421 4.3.2 Shutting down, please try again later\r\n"


class DatabaseThreads:
    """A few threads that do the receiver's database work, so that a slow
    query holds up one delivery and not the event loop of all the others.

    Each thread keeps its Django connection between jobs, checked before and
    after each job as Django does around a request (so a connection the
    database dropped is replaced; see mailman_site.db_connections), and
    closes it when the pool stops.
    """

    def __init__(self, count: int):
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"lmtp-db-{n}", daemon=True) for n in range(count)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join(timeout)

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._jobs.put((future, function, args))
        return await asyncio.wrap_future(future)

    def _work(self) -> None:
        try:
            while (job := self._jobs.get()) is not None:
                future, function, args = job
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    result = self._run(function, args)
                except BaseException as error:
                    future.set_exception(error)
                else:
                    future.set_result(result)
        finally:
            connections.close_all()

    @staticmethod
    def _run(function: Callable[..., T], args: tuple) -> T:
        checked = job_started()
        try:
            try:
                return function(*args)
            except Exception as error:
                if checked or not lost_while_idle(error):
                    raise
            # The database dropped the kept connection since the last job (a
            # restart): once more on a new one. A store whose commit went
            # through before the drop is then found as a duplicate, not posted twice.
            logger.warning("Database connection lost since the last job; trying again on a new one")
            return function(*args)
        finally:
            job_finished()


class RecipientCache:
    """The list addresses resolved in the last few seconds, so that a busy
    receiver asks the database about an address once in `ttl` seconds rather
    than at every RCPT.

    Only addresses that resolved are kept: a new list is known at once. A
    list deleted meanwhile is still noticed: its message cannot be stored
    (the row's list no longer exists), so the MTA gets 451 and its retry the
    550. A database error empties the cache, so that while the database is
    down every RCPT gets 451 rather than mail that cannot be stored.
    """

    def __init__(self, ttl: float = 10.0, size: int = 1000):
        self.ttl = ttl
        self.size = size
        self._entries: dict[str, tuple[float, Recipient]] = {}

    def get(self, address: str) -> Recipient | None:
        entry = self._entries.get(address)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, address: str, recipient: Recipient) -> None:
        if len(self._entries) >= self.size:
            # Dicts keep insertion order: the oldest entry goes first.
            del self._entries[next(iter(self._entries))]
        self._entries[address] = (time.monotonic() + self.ttl, recipient)

    def clear(self) -> None:
        self._entries.clear()


class InboundEnvelope(Envelope):
    """aiosmtpd's envelope, with each accepted RCPT TO already resolved."""

    def __init__(self) -> None:
        super().__init__()
        self.recipients: list[Recipient] = []


class InboundHandler:
    """aiosmtpd hooks: resolve RCPT TO, store after DATA."""

    def __init__(self, database: DatabaseThreads, queueing: QueueingThread):
        self.database = database
        self.queueing = queueing
        self.recipients = RecipientCache()
        # Deliveries being stored now; a graceful stop waits for them.
        self.storing = 0

    async def handle_EHLO(
        self, server: "LMTPChannel", session: Session, envelope: InboundEnvelope, hostname: str, responses: list
    ) -> list[str]:
        session.host_name = hostname
        # RFC 2034: the replies carry enhanced status codes.
        return [*responses[:-1], "250-ENHANCEDSTATUSCODES", responses[-1]]

    async def handle_RCPT(
        self, server: "LMTPChannel", session: Session, envelope: InboundEnvelope, address: str, rcpt_options: list
    ) -> str:
        recipient = self.recipients.get(address)
        if recipient is None:
            try:
                recipient = await self.database.run(resolve_recipient, address)
            except UnknownRecipient:
                return f"550 5.1.1 <{printable(address)}>: no such list or list address"
            except Exception:
                self.recipients.clear()
                logger.exception("Could not look up recipient %s; answered 451", printable(address))
                return TEMPORARY_FAILURE
            self.recipients.put(address, recipient)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        envelope.recipients.append(recipient)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: "LMTPChannel", session: Session, envelope: InboundEnvelope) -> str:
        # decode_data=False: original_content is the bytes as received, only
        # un-dot-stuffed (RFC 5321 section 4.5.2).
        raw = envelope.original_content or b""
        mail_from = "" if envelope.mail_from == "<>" else envelope.mail_from or ""
        self.storing += 1
        try:
            rows = await self.database.run(
                partial(store_inbound, mail_from, envelope.recipients, raw, nudge=self.queueing.put)
            )
        except Exception:
            self.recipients.clear()
            logger.exception(
                "Could not store a message from %s (%d bytes) for %s; answered 451",
                printable(mail_from) or "<>",
                len(raw),
                ", ".join(printable(r.address) for r in envelope.recipients),
            )
            return per_recipient(TEMPORARY_FAILURE, len(envelope.recipients))
        finally:
            self.storing -= 1
        logger.info(
            "Received %s from %s via %s, %d bytes: %s",
            rows[0].message_id or "(no Message-ID)",
            printable(mail_from) or "<>",
            session.peer[0] if session.peer else "?",
            len(raw),
            ", ".join(f"#{row.pk} {printable(row.rcpt_to)} ({row.status})" for row in rows),
        )
        return "\r\n".join(reply_for(row) for row in rows)

    async def handle_exception(self, error: Exception) -> str:
        logger.error("LMTP session failed", exc_info=error)
        return TEMPORARY_FAILURE


class LMTPChannel(LMTP):
    """aiosmtpd's LMTP session, with this site's size limit and replies."""

    def __init__(self, handler: InboundHandler, *, max_message_size: int, channels: set, **kwargs: Any):
        # aiosmtpd refuses a line longer than this with "500 Line too long".
        # Long lines (and a message with bare LF line ends is one long line
        # to it) are stored as received; only a line that is alone over the
        # size limit is refused, with the size limit's reply.
        self.line_length_limit = max_message_size + 2
        super().__init__(handler, data_size_limit=max_message_size, decode_data=False, enable_SMTPUTF8=True, **kwargs)
        self.channels = channels
        too_big = f"552 5.3.4 Message exceeds this site's size limit of {max_message_size} bytes"
        # aiosmtpd words these replies itself; RFC 3463 codes and one reply
        # per recipient after DATA (RFC 2033 section 4.2) are ours.
        self.replies: dict[str, Callable[[], str]] = {
            "552 Error: message size exceeds fixed maximum message size": lambda: too_big,
            "552 Error: Too much mail data": lambda: per_recipient(too_big, len(self.envelope.rcpt_tos)),
            "500 Line too long (see RFC5321 4.5.3.1.6)": lambda: per_recipient(too_big, len(self.envelope.rcpt_tos)),
        }

    def _create_envelope(self) -> InboundEnvelope:
        return InboundEnvelope()

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        path = simple_path(arg)
        if path is None:
            return super()._getaddr(arg)
        local_part = path[0].rpartition("@")[0]
        if self.local_part_limit and len(local_part) > self.local_part_limit:
            return None, None
        return path

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd's DATA, reading the message with messages.lmtp_wire."""
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            content = await read_data(self._reader, self.data_size_limit)
        except DataTooLarge:
            # One reply per recipient (see `replies`): the envelope is reset after it.
            await self.push("552 Error: Too much mail data")
            self._set_post_data_state()
            return
        except asyncio.CancelledError:
            # The connection was lost during DATA (aiosmtpd cancels the session).
            self._writer.close()
            raise
        self.envelope.content = self.envelope.original_content = content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)

    async def push(self, status: str | bytes) -> None:
        if isinstance(status, str) and status in self.replies:
            status = self.replies[status]()
        await super().push(status)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.channels.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        self.channels.discard(self)
        super().connection_lost(error)

    def shut_down(self) -> None:
        """Say goodbye (RFC 5321 section 3.8) and close the connection."""
        if self.transport is not None:
            self.transport.write(SHUTTING_DOWN)
            self.transport.close()


class LMTPServer:
    """The LMTP receiver on an event loop in its own thread.

    `start()` returns once it listens (or raises, e.g. OSError when the port
    is taken); `stop()` stops listening, lets messages being stored finish
    (up to `grace` seconds), closes the other connections with 421 and
    returns once all is shut. Thread-safe to call from any one other thread.
    """

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        *,
        max_message_size: int | None = None,
        database_threads: int = 4,
        grace: float = 30.0,
    ):
        self.host = host or settings.LMTP_HOST
        # Port 0 picks a free port; `port` holds the real one after start().
        self.port = settings.LMTP_PORT if port is None else port
        self.max_message_size = max_message_size or settings.MAX_MESSAGE_SIZE
        self.grace = grace
        self.database_threads = database_threads
        self.database: DatabaseThreads | None = None
        self.queueing: QueueingThread | None = None
        self.handler: InboundHandler | None = None
        self.hostname = socket.gethostname()
        self.channels: set[LMTPChannel] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.server: asyncio.Server | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        if self.thread is not None:
            raise RuntimeError("The LMTP server is already running")
        quiet_aiosmtpd_log()
        # Threads (and their connections) are the server's own from start()
        # to stop(), so a restarted server starts afresh.
        self.database = DatabaseThreads(self.database_threads)
        self.database.start()
        self.queueing = QueueingThread()
        self.queueing.start()
        self.handler = InboundHandler(self.database, self.queueing)
        self.loop = asyncio.new_event_loop()
        listening: concurrent.futures.Future = concurrent.futures.Future()
        self.thread = threading.Thread(target=self._run, args=(listening,), name="lmtp", daemon=True)
        self.thread.start()
        try:
            listening.result()
        except BaseException:
            self.thread.join()
            self.thread = None
            self.database.stop()
            self.queueing.stop()
            raise
        logger.info("LMTP receiver listening on %s:%s", self.host, self.port)

    def stop(self) -> None:
        if self.thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shut_down(), self.loop).result(timeout=self.grace + 10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.database.stop()
        # After the stores: what they committed is sent before the receiver stops.
        self.queueing.stop()
        self.thread = None
        logger.info("LMTP receiver stopped")

    def __enter__(self) -> "LMTPServer":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self, listening: concurrent.futures.Future) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.server = self.loop.run_until_complete(self.loop.create_server(self._new_channel, self.host, self.port))
        except BaseException as error:
            self.loop.close()
            listening.set_exception(error)
            return
        self.port = self.server.sockets[0].getsockname()[1]
        listening.set_result(None)
        self.loop.run_forever()
        self.loop.close()

    def _new_channel(self) -> LMTPChannel:
        return LMTPChannel(
            self.handler,
            max_message_size=self.max_message_size,
            channels=self.channels,
            hostname=self.hostname,
            ident=IDENT,
            loop=self.loop,
        )

    async def _shut_down(self) -> None:
        self.server.close()
        deadline = self.loop.time() + self.grace
        while self.handler.storing and self.loop.time() < deadline:
            await asyncio.sleep(0.05)
        for channel in list(self.channels):
            channel.shut_down()
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        await self.server.wait_closed()


def reply_for(row: InboundMessage) -> str:
    if row.status == InboundStatus.DUPLICATE:
        return f"250 2.0.0 <{printable(row.rcpt_to)}> already received; not posted again"
    return f"250 2.0.0 <{printable(row.rcpt_to)}> stored as #{row.pk}"


def per_recipient(reply: str, count: int) -> str:
    """One reply line per accepted recipient, as LMTP answers DATA."""
    return "\r\n".join([reply] * max(count, 1))


def printable(text: str) -> str:
    """`text` safe to echo in a reply or a log line: ASCII, no line breaks."""
    return text.encode("ascii", "backslashreplace").decode("ascii").replace("\r", "\\r").replace("\n", "\\n")


def quiet_aiosmtpd_log() -> None:
    """aiosmtpd logs every command line at INFO; the receiver logs one line
    per message. A level set in LOGGING wins."""
    aiosmtpd_log = logging.getLogger("mail.log")
    if aiosmtpd_log.level == logging.NOTSET:
        aiosmtpd_log.setLevel(logging.WARNING)

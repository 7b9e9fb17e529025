"""messages.smtp_client against real servers on loopback."""

import datetime
import ipaddress
import socket
import ssl
import threading

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from messages import smtp_client
from messages.smtp_client import Envelope, SMTPConnectError, SMTPConnection, wire_data

pytest.register_assert_rewrite("tests.delivery_support")
from tests.delivery_support import RecordingHandler  # noqa: E402
from tests.ports import free_port  # noqa: E402

pytest_plugins = ["tests.delivery_support"]


def envelopes(count: int, per: int, data: bytes = b"Subject: hi\r\n\r\nhello\r\n") -> list[Envelope]:
    return [
        Envelope("list-bounces@example.com", [f"user{i}-{j}@example.org" for j in range(per)], data)
        for i in range(count)
    ]


def open_connection(port: int, **options) -> SMTPConnection:
    connection = SMTPConnection("127.0.0.1", port, timeout=5, **options)
    connection.open()
    return connection


def test_wire_data_normalises_line_endings_and_stuffs_dots():
    assert wire_data(b".first\nsecond\r.third\r\n..fourth") == b"..first\r\nsecond\r\n..third\r\n...fourth\r\n"


def test_pipelined_transactions_all_arrive(start_sink):
    sink = start_sink()
    connection = open_connection(sink.port)
    assert connection.pipelining
    results = connection.send(envelopes(5, 3))
    connection.close()
    assert [len(r.accepted) for r in results] == [3, 3, 3, 3, 3]
    assert all(not r.refused for r in results)
    status = sink.wait_for(15)
    assert (status["messages"], status["recipients"]) == (5, 15)
    assert sorted(sink.recorded()) == sorted(f"user{i}-{j}@example.org" for i in range(5) for j in range(3))


def test_pipelined_refusals_are_reported_per_recipient(start_sink):
    sink = start_sink(permfail=0.3, tempfail=0.3, seed=7)
    connection = open_connection(sink.port)
    results = connection.send(envelopes(20, 5))
    connection.close()
    accepted = [rcpt for r in results for rcpt in r.accepted]
    refused = [reply for r in results for reply in r.refused.values()]
    assert len(accepted) + len(refused) == 100
    status = sink.wait_for(len(accepted))
    assert status["recipients"] == len(accepted)
    assert sorted(sink.recorded()) == sorted(accepted)
    assert {reply.code for reply in refused} <= {451, 550, 554}
    assert any(reply.code == 550 and "no such user" in reply.text for reply in refused)


def test_transaction_without_valid_recipient_does_not_break_the_next(start_sink):
    # With every RCPT refused the sink answers DATA with 554; the client
    # resets and the next transaction goes through on the same session.
    sink = start_sink(permfail=1.0)
    connection = open_connection(sink.port)
    [first] = connection.send(envelopes(1, 2))
    assert not first.accepted and {r.code for r in first.refused.values()} == {550}
    assert connection.is_open and connection.check()
    connection.close()


def test_lockstep_without_pipelining_reports_each_reply(smtpd, settings):
    smtpd.script = {"user0-1@example.org": ["451 4.3.0 try later"], "user1-0@example.org": ["550 5.1.1 unknown"]}
    connection = open_connection(settings.EMAIL_PORT)
    assert not connection.pipelining
    results = connection.send(envelopes(2, 2))
    connection.close()
    assert results[0].accepted == ["user0-0@example.org"]
    assert results[0].refused["user0-1@example.org"].code == 451
    assert results[1].refused["user1-0@example.org"].text == "5.1.1 unknown"
    assert [a.rcpt_tos for a in smtpd.arrived] == [["user0-0@example.org"], ["user1-1@example.org"]]


def test_dot_stuffed_content_arrives_unchanged(smtpd, settings):
    message = b"Subject: dots\n\n.one\n..two\nthree.\n.\n"
    connection = open_connection(settings.EMAIL_PORT)
    connection.send([Envelope("a@example.com", ["b@example.org"], wire_data(message))])
    connection.close()
    assert smtpd.arrived[0].content == message.replace(b"\n", b"\r\n")


def test_refused_connection_raises_connect_error():
    with pytest.raises(SMTPConnectError):
        open_connection(free_port())


def test_silent_server_times_out():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        connection = SMTPConnection("127.0.0.1", listener.getsockname()[1], timeout=0.3)
        with pytest.raises(SMTPConnectError, match="timed out"):
            connection.open()


def scripted_server(lines_before_close: int) -> int:
    """A server that offers PIPELINING, answers 250 to every command line
    and drops the connection after `lines_before_close` lines."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve():
        conn, _ = listener.accept()
        with conn, listener:
            conn.sendall(b"220 hi\r\n")
            reader = conn.makefile("rb")
            reader.readline()
            conn.sendall(b"250-hi\r\n250 PIPELINING\r\n")
            for _ in range(lines_before_close):
                line = reader.readline()
                conn.sendall(b"354 go\r\n" if line.startswith(b"DATA") else b"250 ok\r\n")

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1]


def test_dropped_connection_refuses_unconfirmed_and_leaves_the_rest():
    connection = open_connection(scripted_server(lines_before_close=4))
    remaining = iter(envelopes(5, 2))
    results = connection.send(remaining)
    # MAIL, 2 RCPT and DATA of the first are answered, then the server is gone:
    # the first's message was never confirmed, the second never answered.
    assert len(results) == 2
    assert all(not r.accepted and {x.code for x in r.refused.values()} == {451} for r in results)
    assert not connection.is_open
    assert len(list(remaining)) == 3


def test_thread_connection_is_reused_and_reopened(start_sink, settings):
    sink = start_sink()
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
    first = smtp_client.get_connection()
    first.send(envelopes(1, 1))
    assert smtp_client.get_connection() is first
    first._sock.shutdown(socket.SHUT_RDWR)  # as if the server had timed the session out
    second = smtp_client.get_connection()
    assert second is not first and second.is_open
    second.send(envelopes(1, 1))
    smtp_client.close_connection()
    assert sink.wait_for(2)["sessions"] == 2


# TLS and AUTH, with a self-signed certificate made for the test.


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    client = ssl.create_default_context(cafile=str(folder / "cert.pem"))
    return server, client


class Logins:
    def __init__(self):
        self.seen = []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        self.seen.append((mechanism, auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"secret", handled=False)


def tls_server(handler, certificate, *, implicit: bool, logins: Logins) -> Controller:
    server_context, _ = certificate
    if implicit:
        # aiosmtpd counts only STARTTLS as TLS for auth_require_tls.
        options = {"ssl_context": server_context, "auth_require_tls": False}
    else:
        options = {"tls_context": server_context, "require_starttls": True}
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), authenticator=logins, **options)
    controller.start()
    return controller


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "implicit-tls"])
def test_tls_and_auth_plain(certificate, implicit):
    handler, logins = RecordingHandler(), Logins()
    controller = tls_server(handler, certificate, implicit=implicit, logins=logins)
    try:
        connection = open_connection(
            controller.port,
            use_tls=not implicit,
            use_ssl=implicit,
            username="lists",
            password="secret",
            ssl_context=certificate[1],
        )
        [result] = connection.send(envelopes(1, 1))
        connection.close()
    finally:
        controller.stop()
    assert result.accepted == ["user0-0@example.org"]
    assert logins.seen == [("PLAIN", b"lists", b"secret")]
    assert len(handler.arrived) == 1


def test_wrong_password_is_a_connect_error(certificate):
    controller = tls_server(RecordingHandler(), certificate, implicit=False, logins=Logins())
    try:
        with pytest.raises(SMTPConnectError, match="AUTH") as error:
            open_connection(
                controller.port, use_tls=True, username="lists", password="wrong", ssl_context=certificate[1]
            )
    finally:
        controller.stop()
    assert error.value.code == 535


def test_starttls_required_but_not_offered(start_sink):
    sink = start_sink()
    with pytest.raises(SMTPConnectError, match="STARTTLS"):
        open_connection(sink.port, use_tls=True)

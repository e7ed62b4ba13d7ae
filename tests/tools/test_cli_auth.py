"""The ``strata`` command against servers that require tokens and TLS."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from service.server import StrataServer
from tests.service.conftest import start_server
from tests.service.test_auth import make_certificates
from tools.cli import app

STRATA = str(Path(sys.executable).parent / "strata")
runner = CliRunner()


def strata(target: str, *args: str, token: str | None = None) -> tuple[int, str]:
    """Run a command in-process against ``target`` with only ``token`` in STRATA_TOKEN;
    returns the exit code and the output."""
    env = {"STRATA_TOKEN": token, "STRATA_TARGET": target, "STRATA_TLS_CA": None}
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.output


def test_token_option_and_environment_variable(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", auth_tokens="cli-secret:admin;cli-reader:read")
    try:
        created = strata(srv.address, "collections", "create", "games", "--dim", "16", "--token", "cli-secret")
        assert created == (0, "created collection games (dimension 16)\n")
        code, listed = strata(srv.address, "collections", "list", token="cli-reader")
        assert code == 0 and "games" in listed
        code, refused = strata(srv.address, "stats")
        assert code == 1 and "UNAUTHENTICATED" in refused
        code, refused = strata(srv.address, "collections", "delete", "games", "--token", "cli-reader")
        assert code == 1 and "PERMISSION_DENIED" in refused
    finally:
        srv.stop(0)


def test_stats_of_a_scoped_token_print_no_server_wide_figures(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", auth_tokens="cli-secret:admin;cli-scoped:read:games")
    try:
        for name in ("games", "other"):
            assert strata(srv.address, "collections", "create", name, "--dim", "16", token="cli-secret")[0] == 0
        code, full = strata(srv.address, "stats", token="cli-secret")
        assert code == 0 and "other" in full and "commit sequence" in full, full
        code, scoped = strata(srv.address, "stats", token="cli-scoped")
        assert code == 0 and "games" in scoped and "other" not in scoped, scoped
        assert "commit sequence" not in scoped and "disk" not in scoped and "version" in scoped
    finally:
        srv.stop(0)


def test_tls_ca_option(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path)
    srv = start_server(tmp_path / "data", tls_cert=certs["server_cert"], tls_key=certs["server_key"])
    try:
        code, listed = strata(srv.address, "stats", "--tls-ca", str(certs["server_cert"]))
        assert code == 0 and "commit sequence" in listed
    finally:
        srv.stop(0)


def _mutual_tls_server(tmp_path: Path) -> tuple[dict[str, Path], StrataServer]:
    """Certificates, and a server that speaks TLS and requires a client certificate
    signed by the client CA among them."""
    certs = make_certificates(tmp_path)
    srv = start_server(
        tmp_path / "data",
        tls_cert=certs["server_cert"], tls_key=certs["server_key"], tls_client_ca=certs["client_cert"],
    )  # fmt: skip
    return certs, srv


def test_a_client_certificate_from_the_environment_reaches_a_mutual_tls_server(tmp_path: Path) -> None:
    certs, srv = _mutual_tls_server(tmp_path)
    args = ["stats", "--tls-ca", str(certs["server_cert"])]
    env = {"STRATA_TARGET": srv.address, "STRATA_TOKEN": None, "STRATA_TLS_CA": None}
    mine = {"STRATA_TLS_CLIENT_CERT": str(certs["client_cert"]), "STRATA_TLS_CLIENT_KEY": str(certs["client_key"])}
    try:
        refused = runner.invoke(app, args, env={**env, "STRATA_TLS_CLIENT_CERT": None, "STRATA_TLS_CLIENT_KEY": None})
        assert refused.exit_code == 1 and "UNAVAILABLE" in refused.output
        listed = runner.invoke(app, args, env={**env, **mine})
        assert listed.exit_code == 0 and "commit sequence" in listed.output, listed.output
        half = runner.invoke(app, args, env={**env, **mine, "STRATA_TLS_CLIENT_KEY": None})
        assert half.exit_code == 1 and "set both STRATA_TLS_CLIENT_CERT and STRATA_TLS_CLIENT_KEY" in half.output
    finally:
        srv.stop(0)


def test_serve_takes_a_token_file_and_warns_when_exposed(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps([{"name": "ops", "token": "served-secret", "role": "admin"}]))
    command = [STRATA, "serve", "--data-dir", str(tmp_path / "d"), "--port", "0", "--host", "0.0.0.0"]
    proc = subprocess.Popen(
        [*command, "--auth-tokens-file", str(tokens), "--log-level", "ERROR"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = proc.stdout.readline().strip().rsplit(":", 1)[-1]  # type: ignore[union-attr]
        assert proc.stdout.readline().strip() == "ready"  # type: ignore[union-attr]
        assert select.select([proc.stderr], [], [], 30)[0], "no warning printed"
        assert "without TLS" in proc.stderr.readline()  # type: ignore[union-attr]
        served = f"127.0.0.1:{port}"
        assert strata(served, "stats", token="served-secret")[0] == 0
        assert "UNAUTHENTICATED" in strata(served, "stats")[1]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0


def test_a_plain_text_client_leaves_no_line_outside_the_log_format_on_a_tls_server(tmp_path: Path) -> None:
    # gRPC's own "I1207 ... Handshake failed" line reached the server's stderr, outside
    # the log's format, for every client that spoke plain text to it.
    certs = make_certificates(tmp_path)
    command = [STRATA, "serve", "--data-dir", str(tmp_path / "d"), "--port", "0"]
    tls = ["--tls-cert", str(certs["server_cert"]), "--tls-key", str(certs["server_key"])]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRATA_", "GRPC_"))}
    log = tmp_path / "stderr.txt"
    with log.open("w") as err:
        proc = subprocess.Popen([*command, *tls], stdout=subprocess.PIPE, stderr=err, text=True, env=env)
        try:
            port = proc.stdout.readline().strip().rsplit(":", 1)[-1]  # type: ignore[union-attr]
            assert proc.stdout.readline().strip() == "ready"  # type: ignore[union-attr]
            assert "A TLS server needs --tls-ca" in strata(f"localhost:{port}", "stats")[1]
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
    lines = log.read_text().splitlines()
    assert lines and all(line[:4].isdigit() and line[4:5] == "-" for line in lines), lines  # each a log record


def test_a_tls_ca_file_that_is_no_pem_certificate_is_named_not_taken_for_no_server(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path)
    srv = start_server(tmp_path / "data", tls_cert=certs["server_cert"], tls_key=certs["server_key"])
    pem = certs["server_cert"].read_text()
    body = pem.splitlines()[1]
    try:
        for name, content in (
            ("text", "not a certificate\n"),
            ("key", certs["server_key"].read_text()),  # PEM, but no certificate
            ("cut", pem[: len(pem) // 2]),
            ("garbled", pem.replace(body, body[::-1])),
        ):
            (tmp_path / name).write_text(content)
            code, shown = strata(srv.address, "stats", "--tls-ca", str(tmp_path / name))
            assert code == 1 and shown.startswith(f"error --tls-ca {tmp_path / name} is not a valid PEM certificate")
            assert "server running" not in shown and len(shown.splitlines()) == 1, shown
        # Text around the certificate (openssl's "Bag Attributes", a bundle's CA names) is allowed, as grpc allows it.
        (tmp_path / "annotated").write_text("Bag Attributes\n    friendlyName: Strata CA\n" + pem + "# end\n")
        assert strata(srv.address, "stats", "--tls-ca", str(tmp_path / "annotated"))[0] == 0
        code, shown = strata(srv.address, "stats", "--tls-ca", str(tmp_path / "missing"))
        assert code == 2 and "Invalid value for '--tls-ca'" in shown  # a usage error, named by the option parser
    finally:
        srv.stop(0)


def test_a_mutual_tls_server_refusing_the_client_is_said_to_want_a_client_certificate(tmp_path: Path) -> None:
    # The hint was "is a server running at --target? A TLS server needs --tls-ca." to a
    # user who had given --tls-ca, whose server was running, and who lacked a client
    # certificate (or had one the server's CA did not sign).
    certs, srv = _mutual_tls_server(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATA_")} | {"STRATA_TARGET": srv.address}
    ca = ["--tls-ca", str(certs["server_cert"])]
    unsigned = {"STRATA_TLS_CLIENT_CERT": str(certs["server_cert"]), "STRATA_TLS_CLIENT_KEY": str(certs["server_key"])}
    try:
        for given, said in (
            ({}, "it likely requires a client certificate; set STRATA_TLS_CLIENT_CERT and STRATA_TLS_CLIENT_KEY"),
            (unsigned, f"it likely did not accept the client certificate {certs['server_cert']}"),
        ):
            run = subprocess.run([STRATA, "stats", *ca], capture_output=True, text=True, env=env | given, timeout=120)
            assert run.returncode == 1 and said in run.stderr, run.stderr
            assert "--tls-client-ca" in run.stderr and "needs --tls-ca" not in run.stderr, run.stderr
        # Without --tls-ca the client speaks no TLS at all: that is what it is told.
        plain = subprocess.run([STRATA, "stats"], capture_output=True, text=True, env=env, timeout=120)
        assert plain.returncode == 1 and "A TLS server needs --tls-ca" in plain.stderr, plain.stderr
    finally:
        srv.stop(0)


def test_a_failed_tls_handshake_is_said_to_be_one_and_which_certificate_is_at_fault(tmp_path: Path) -> None:
    # Each told a user who had given --tls-ca that "a TLS server needs --tls-ca".
    certs = make_certificates(tmp_path)
    elsewhere = tmp_path / "elsewhere.pem"  # a certificate for another host, signed by itself
    command = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    command += ["-days", "1", "-keyout", str(tmp_path / "elsewhere.key"), "-out", str(elsewhere)]
    subprocess.run(
        [*command, "-subj", "/CN=x", "-addext", "subjectAltName=DNS:elsewhere.example"], check=True, capture_output=True
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATA_")}
    cases = (
        ({}, certs["server_cert"], "the server at --target does not serve TLS: leave out --tls-ca"),
        ({"tls_cert": certs["server_cert"], "tls_key": certs["server_key"]}, certs["client_cert"],
         f"the server's certificate is not signed by the CA in --tls-ca {certs['client_cert']}"),
        ({"tls_cert": elsewhere, "tls_key": tmp_path / "elsewhere.key"}, elsewhere,
         "the server's certificate does not name the host of --target"),
    )  # fmt: skip
    for number, (tls, ca, said) in enumerate(cases):
        srv = start_server(tmp_path / f"data{number}", **tls)
        try:
            run = subprocess.run(
                [STRATA, "stats", "--tls-ca", str(ca)],
                capture_output=True, text=True, env=env | {"STRATA_TARGET": srv.address}, timeout=120,
            )  # fmt: skip
        finally:
            srv.stop(0)
        assert run.returncode == 1 and said in run.stderr and "needs --tls-ca" not in run.stderr, run.stderr


def test_a_refused_token_or_tls_file_is_named_as_the_operator_gave_it(tmp_path: Path) -> None:
    # A file given with --auth-tokens-file was refused as "STRATA_AUTH_TOKENS_FILE: ...",
    # a variable the operator never set.
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps([{"token": "t", "role": "boss"}]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATA_")}
    serve = [STRATA, "serve", "--data-dir", str(tmp_path / "d"), "--port", "0"]
    for extra, variables, named in (
        (["--auth-tokens-file", str(tokens)], {}, f"--auth-tokens-file: {tokens} entry 0: role"),
        ([], {"STRATA_AUTH_TOKENS_FILE": str(tokens)}, f"STRATA_AUTH_TOKENS_FILE: {tokens} entry 0: role"),
        (["--tls-cert", str(tokens), "--tls-key", str(tokens)], {}, f"--tls-key: {tokens} is not a PEM file"),
        # A setting missing beside one given, set nowhere: named as this command's option (it
        # read STRATA_TLS_KEY, a variable the operator had not set, beside --tls-cert).
        (["--tls-key", str(tokens)], {}, "--tls-cert: is not set: TLS needs both --tls-cert and --tls-key"),
        (["--tls-cert", str(tokens)], {}, "--tls-key: is not set: TLS needs both --tls-cert and --tls-key"),
        (["--tls-client-ca", str(tokens)], {}, "--tls-client-ca: needs --tls-cert and --tls-key"),
        # One set in the environment keeps its variable's name.
        ([], {"STRATA_TLS_CERT": str(tokens)}, "--tls-key: is not set: TLS needs both STRATA_TLS_CERT and --tls-key"),
    ):
        run = subprocess.run([*serve, *extra], capture_output=True, text=True, env=env | variables, timeout=120)
        assert run.returncode == 1 and named in run.stderr, run.stderr

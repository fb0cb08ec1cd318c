"""``cluster-console serve``: the token gate and the address rules, against the real server."""

from __future__ import annotations

import argparse
import os
import re
import stat
from pathlib import Path

import aiohttp
import pytest

from console.cli import build_parser, main
from console.cli.serve import app_argv, check_address, resolve_token
from console.core.errors import InputError
from tests.serving import serve


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


# --- arguments -------------------------------------------------------------------------------


def test_ssh_options_before_serve_reach_the_served_console() -> None:
    args = parse(
        "-F",
        "cfg",
        "-p",
        "2222",
        "-i",
        "k1",
        "-i",
        "k2",
        "--accept-new",
        "serve",
        "--port",
        "9000",
        "node[01-02]",
        "--ranktable",
        "rt.json",
    )
    argv = app_argv(args)
    assert argv[1:] == [
        "-m",
        "console",
        "--ssh-config",
        "cfg",
        "--port",
        "2222",
        "--identity",
        "k1",
        "--identity",
        "k2",
        "--accept-new",
        "tui",
        "node[01-02]",
        "--ranktable",
        "rt.json",
    ]
    assert args.web_port == 9000


def test_demo_arguments_are_checked_before_serving() -> None:
    assert app_argv(parse("serve", "--demo", "--servers", "4"))[-3:] == ["demo", "--servers", "4"]
    with pytest.raises(InputError, match="--servers 0"):
        app_argv(parse("serve", "--demo", "--servers", "0"))
    with pytest.raises(InputError, match="go with --demo"):
        app_argv(parse("serve", "--servers", "4"))
    with pytest.raises(InputError, match="drop HOSTS"):
        app_argv(parse("serve", "--demo", "node1"))


def test_a_bad_host_expression_fails_now_not_in_every_tab() -> None:
    assert main(["serve", "node[01-"]) == 2


def test_non_loopback_needs_public_and_a_chosen_token(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a loopback address"):
        check_address(parse("serve", "--host", "0.0.0.0"), token_given=True)
    with pytest.raises(InputError, match="needs a token you chose"):
        check_address(parse("serve", "--host", "0.0.0.0", "--public"), token_given=False)
    check_address(parse("serve", "--host", "0.0.0.0", "--public"), token_given=True)
    for loopback in ("127.0.0.1", "::1", "localhost", "127.0.0.5"):
        check_address(parse("serve", "--host", loopback), token_given=False)


def test_token_sources(tmp_path: Path) -> None:
    token, given = resolve_token(parse("serve"), {})
    assert not given and len(token) >= 16
    assert resolve_token(parse("serve"), {})[0] != token  # random each time
    assert resolve_token(parse("serve"), {"CLUSTER_CONSOLE_SERVE_TOKEN": "x" * 20}) == ("x" * 20, True)
    with pytest.raises(InputError, match="at least 16"):
        resolve_token(parse("serve"), {"CLUSTER_CONSOLE_SERVE_TOKEN": "short"})
    file = tmp_path / "token"
    file.write_text("y" * 24 + "\n")
    file.chmod(0o644)
    with pytest.raises(InputError, match="readable by other users"):
        resolve_token(parse("serve", "--token-file", str(file)), {})
    file.chmod(0o600)
    assert resolve_token(parse("serve", "--token-file", str(file)), {}) == ("y" * 24, True)
    with pytest.raises(InputError, match="cannot read"):
        resolve_token(parse("serve", "--token-file", str(tmp_path / "none")), {})


# --- the gate, on the running server ---------------------------------------------------------


def test_the_only_address_printed_is_the_one_with_the_token() -> None:
    with serve() as s:
        addresses = re.findall(r"https?://\S+", s.stderr)
        assert addresses == [s.url]


async def test_page_websocket_and_downloads_need_the_token() -> None:
    with serve() as s:
        printed = len(s.stderr)  # the address, token included, is printed once on start
        assert s.token.encode() not in Path(f"/proc/{s.proc.pid}/cmdline").read_bytes()
        async with aiohttp.ClientSession() as http:
            async with http.get(s.base + "/") as r:
                assert r.status == 403
            async with http.get(s.base + "/?token=" + "z" * len(s.token)) as r:
                assert r.status == 403
            async with http.get(s.base + "/download/abc") as r:
                assert r.status == 403
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(s.base + "/ws")
            assert refused.value.status == 403
            async with http.get(s.url, allow_redirects=False) as r:
                assert r.status == 302 and r.headers["Location"] == "/"  # token leaves the address bar
                cookie = r.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
            assert s.token not in cookie  # a session id, not the token: cookies reach every port
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
            async with browser.get(s.url) as page:  # follows the redirect with the cookie
                assert page.status == 200
                assert "textual" in (await page.text()).lower()
            with pytest.raises(aiohttp.WSServerHandshakeError) as foreign:
                await browser.ws_connect(s.base + "/ws", origin="http://evil.example")
            assert foreign.value.status == 403
            ws = await browser.ws_connect(s.base + "/ws?width=80&height=24", origin=s.base)
            await ws.close()
        later = s.read_stderr()[printed:]
        assert s.token not in later  # the access log would print `GET /?token=...`
        assert later.count("refused GET /ws") == 1  # one refused websocket, said once
        assert later.count("origin 'http://evil.example'") == 1


async def test_a_foreign_host_header_is_refused_even_with_the_token() -> None:
    """DNS rebinding: evil.example resolving to 127.0.0.1 must not get a session."""
    with serve() as s:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(s.url, headers={"Host": f"evil.example:{s.port}"}, allow_redirects=False) as r:
                assert r.status == 421
            async with http.get(s.url.replace("127.0.0.1", "localhost"), allow_redirects=False) as r:
                assert r.status == 302  # the same server under another loopback name


def _children(pid: int) -> list[int]:
    kids = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat_file.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            kids.append(int(stat_file.parent.name))
    return kids


async def test_the_token_from_the_environment_is_used_and_not_passed_on() -> None:
    token = "t0ken-from-the-environment"
    with serve(env={"CLUSTER_CONSOLE_SERVE_TOKEN": token}) as s:
        assert s.token == token
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
            async with browser.get(s.url) as page:
                assert page.status == 200
            ws = await browser.ws_connect(s.base + "/ws?width=80&height=24", origin=s.base)
            await ws.receive(timeout=30)  # the console process is running once it has spoken
            consoles = _children(s.proc.pid)
            assert consoles, "no console process was started for the connection"
            for pid in consoles:
                assert token.encode() not in Path(f"/proc/{pid}/environ").read_bytes()
            await ws.close()


def test_token_file_mode_is_checked_like_ssh_keys(tmp_path: Path) -> None:
    file = tmp_path / "token"
    file.write_text("q" * 30)
    os.chmod(file, stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP)
    assert main(["serve", "--token-file", str(file)]) == 2

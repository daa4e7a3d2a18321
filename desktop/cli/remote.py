"""`duet remote add`, `list` and `rm`: the OpenAI-compatible servers Duet knows, each with the
models it serves."""

from __future__ import annotations

import argparse
import sys

from desktop.core.engine import servers
from desktop.core.engine.factory import served_names
from desktop.core.errors import InsecureKey, RemoteError


def cmd_remote(args: argparse.Namespace) -> int:
    if args.remote_command == "add":
        return _add(args.name, args.url, args.api_key_env, args.allow_insecure_key)
    if args.remote_command == "rm":
        servers.remove_server(args.name)
        print(f"Removed {args.name}.")
        return 0
    return _list()


def _add(name: str, url: str, api_key_env: str, allow_insecure_key: bool) -> int:
    try:
        server = servers.add_server(name, url, api_key_env, allow_insecure_key=allow_insecure_key)
    except InsecureKey as exc:
        raise RemoteError(f"{exc} To send it anyway, add --allow-insecure-key.") from None
    if server.insecure_key_ok:
        print(f"Warning: the API key of {server.name} goes over plain http.", file=sys.stderr)
    try:
        models = served_names(server.name)
        print(f"Added {server.name} ({server.url}): {len(models)} model(s): {', '.join(models)}")
    except RemoteError as exc:
        print(f"Added {server.name} ({server.url}), but: {exc}")
    return 0


def _list() -> int:
    known = servers.servers()
    if warning := servers.servers_warning():
        print(warning, file=sys.stderr)
    if not known:
        print("No servers yet: duet remote add NAME URL")
    for server in known:
        key = f" · key from ${server.api_key_env}" if server.api_key_env else ""
        try:
            models = ", ".join(served_names(server.name)) or "no models"
        except RemoteError as exc:
            models = f"unreachable: {exc}"
        print(f"{server.name:<16} {server.url}{key}\n    {models}")
    return 0

"""The workspace's CLI commands, registered on the `pantau` app: `pantau serve` and `pantau user add`; and the
demo's last step, `demo_workspace` (demo accounts, then the workspace on the demo's database).

The web stack is imported inside the commands so that `pantau --help` stays fast.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer

from pipeline.config import Settings
from pipeline.errors import PantauError
from pipeline.secrets import local_secret

# The demo's accounts: two reviewers (four eyes), a supervisor, an analyst and an admin; one shared password.
DEMO_USERS = (
    ("peninjau1", "reviewer"),
    ("peninjau2", "reviewer"),
    ("penyelia", "supervisor"),
    ("analis", "analyst"),
    ("admin", "admin"),
)

user_app = typer.Typer(
    help="Manage workspace accounts: `pantau user add NAME --role ROLE [--password-stdin]`.", no_args_is_help=True
)


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except PantauError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default PANTAU_SERVE_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default PANTAU_SERVE_PORT).")] = None,
) -> None:
    """Start the review workspace (web) on 127.0.0.1:8000 unless configured otherwise."""
    _serve(_settings(), host, port)


def _serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    import uvicorn

    from pipeline.web.app import create_app

    app = create_app(settings)
    typer.echo(f"review workspace on http://{host or settings.serve_host}:{port or settings.serve_port}/")
    uvicorn.run(
        app, host=host or settings.serve_host, port=port or settings.serve_port, log_level="info", proxy_headers=False
    )


def demo_workspace(settings: Settings, serve_now: bool) -> list[str]:
    """Make the demo's accounts (once; their password is made on first use and kept in `<data_dir>/.demo-password`,
    mode 0600), print how to sign in, and start the workspace when `serve_now`. Returns the accounts made now."""
    from pipeline.storage import Store
    from pipeline.web import auth, repo

    password = local_secret(settings.data_dir, "demo-password")[:20]
    store = Store(settings.database, settings.lock_timeout_s)
    store.init()
    made = []
    for name, role in DEMO_USERS:
        if repo.get_user(store, name) is None:
            repo.add_user(store, name, auth.hash_password(password), role, "demo", auth.now_utc())
            made.append(name)
    url = f"http://{settings.serve_host}:{settings.serve_port}/"
    typer.echo(f"review workspace: {url}  (demo password for every account below: {password})")
    for name, role in DEMO_USERS:
        typer.echo(f"  {name:<10} {role}")
    if serve_now:
        typer.echo("Ctrl-C stops the workspace.")
        _serve(settings)
    else:
        typer.echo(f"start it with: PANTAU_DATA_DIR={settings.data_dir} {_this_pantau()} serve")
    return made


def _this_pantau() -> str:
    """How to run this installation's `pantau` from here: after `make demo` it is `.venv/bin/pantau`, not on PATH."""
    script = Path(sys.executable).parent / "pantau"
    if not script.is_file():
        return "pantau"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Kata sandi / password: ")
    if getpass.getpass("Ulangi / repeat: ") != first:
        typer.echo("error: the two passwords differ", err=True)
        raise typer.Exit(2)
    return first


@user_app.command("add")
def add_user(
    name: Annotated[str, typer.Argument(help="User name (letters, digits, . _ -).")],
    role: Annotated[str, typer.Option(help="reviewer, supervisor, analyst or admin.")] = "reviewer",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Create a workspace account; the password is prompted twice (or read from stdin), never an argument."""
    from pipeline.storage import Store
    from pipeline.web import auth, repo
    from pipeline.web.taxonomy import ROLES

    if role not in ROLES:
        typer.echo(f"error: role must be one of {', '.join(ROLES)}", err=True)
        raise typer.Exit(2)
    if not auth.USERNAME.match(name):
        typer.echo("error: a user name is 1-64 letters, digits, dots, underscores or hyphens", err=True)
        raise typer.Exit(2)
    password = _read_password(password_stdin)
    if len(password) < auth.MIN_PASSWORD_CHARS:
        typer.echo(f"error: the password needs at least {auth.MIN_PASSWORD_CHARS} characters", err=True)
        raise typer.Exit(2)
    settings = _settings()
    store = Store(settings.database, settings.lock_timeout_s)
    store.init()
    try:
        repo.add_user(store, name, auth.hash_password(password), role, "cli", auth.now_utc())
    except PantauError as exc:
        typer.echo(f"error: {'that user name is taken' if str(exc) == 'user_exists' else exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"user {name} added with role {role}")


def register(app: typer.Typer) -> None:
    """Add `serve` and the `user` group to the pantau command."""
    app.command()(serve)
    app.add_typer(user_app, name="user")

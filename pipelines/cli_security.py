"""`player360 users | audit | gdpr`: logins, the audit log and GDPR requests from the command line.

Whoever runs these commands holds the database file, so acts as an administrator: each change is
audited with the operating-system user as its actor and the role `admin`.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from pipelines.errors import UserError

out = Console(soft_wrap=True)
DbOption = Annotated[
    Optional[Path],
    typer.Option("--db", help="DuckDB store (default: $PLAYER360_DB or data/player360.duckdb).",
                 show_default=False),
]

users_app = typer.Typer(help="Sign-in users: roles and property scope (passwords kept as argon2 hashes).",
                        no_args_is_help=True)
audit_app = typer.Typer(help="The append-only audit log.", no_args_is_help=True)
gdpr_app = typer.Typer(help="GDPR requests: export everything about a player, or erase their personal data.",
                       no_args_is_help=True)
PropertyOption = Annotated[list[str], typer.Option("--property", "-p",
                                                   help="A property in the user's scope (repeat; '*' = all).")]


def register(app: typer.Typer) -> None:
    """Add the security commands to the main command line."""
    app.add_typer(users_app, name="users")
    app.add_typer(audit_app, name="audit")
    app.add_typer(gdpr_app, name="gdpr")


def _actor() -> str:
    from pipelines.ingest import default_actor

    return default_actor()


def _password(stdin: bool) -> str:
    """A new password: from standard input (one line) or typed twice at a hidden prompt."""
    if stdin:
        return sys.stdin.readline().rstrip("\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


def cookie_secret(db: Path) -> tuple[str, int]:
    """(the app's cookie secret, number of users): $PLAYER360_COOKIE_SECRET, else the one stored
    in the database, generated on first use."""
    import os

    from pipelines.access import ensure_salt
    from pipelines.store import Store

    with Store(db) as store:
        ensure_salt(store)
        stored = store.setting("cookie_secret", secrets.token_urlsafe(32))
        n = store.users().height
    return os.environ.get("PLAYER360_COOKIE_SECRET") or stored or "", n


def demo_users(db: Path | None) -> None:
    """Create the demo users (one per role) and say how to sign in."""
    from pipelines.store import Store
    from pipelines.users import DEMO_USERS, add_demo_users

    with Store(db) as store:
        add_demo_users(store)
    out.print("Demo users (password = <user>-demo-pass): " + ", ".join(
        f"{name} ({role}, {' '.join(props)})" for name, (role, props) in DEMO_USERS.items()))


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="The sign-in name.")],
    role: Annotated[str, typer.Option(help="host, shift_manager, marketer, analyst, compliance or admin.")],
    prop: PropertyOption,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
    db: DbOption = None,
) -> None:
    """Create a user (the password is asked for, never given as an argument)."""
    from pipelines import users
    from pipelines.store import Store

    password = _password(password_stdin)
    with Store(db) as store:
        users.add(store, username, password, role, prop, actor=_actor(), actor_role="admin")
    out.print(f"user {username} added ({role}; {', '.join(prop)})")


@users_app.command("passwd")
def users_passwd(
    username: Annotated[str, typer.Argument(help="The user.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
    db: DbOption = None,
) -> None:
    """Set a user's password."""
    from pipelines import users
    from pipelines.store import Store

    password = _password(password_stdin)
    with Store(db) as store:
        users.passwd(store, username, password, actor=_actor(), actor_role="admin")
    out.print(f"password of {username} changed")


@users_app.command("grant")
def users_grant(
    username: Annotated[str, typer.Argument(help="The user.")],
    role: Annotated[Optional[str], typer.Option(help="A new role.")] = None,
    prop: Annotated[Optional[list[str]], typer.Option("--property", "-p",
                                                      help="The new property scope (repeat; '*' = all).")] = None,
    db: DbOption = None,
) -> None:
    """Change a user's role and/or property scope."""
    from pipelines import users
    from pipelines.store import Store

    if role is None and not prop:
        raise UserError("grant: give --role and/or --property")
    with Store(db) as store:
        users.grant(store, username, role=role, properties=prop or None, actor=_actor(), actor_role="admin")
    out.print(f"user {username} updated")


@users_app.command("remove")
def users_remove(username: Annotated[str, typer.Argument(help="The user.")], db: DbOption = None) -> None:
    """Delete a user (their past writes and the audit log keep their name)."""
    from pipelines import users
    from pipelines.store import Store

    with Store(db) as store:
        users.remove(store, username, actor=_actor(), actor_role="admin")
    out.print(f"user {username} removed")


@users_app.command("list")
def users_list(db: DbOption = None) -> None:
    """Every user with role and scope (never a password or hash)."""
    from pipelines.store import Store

    with Store(db) as store:
        frame = store.users()
    table = Table("user", "role", "properties", "created", "by")
    for r in frame.iter_rows(named=True):
        table.add_row(r["username"], r["role"], "*" if r["all_properties"] else ", ".join(r["properties"]),
                      str(r["created_at"]), r["created_by"])
    out.print(table)


@audit_app.command("list")
def audit_list(
    action: Annotated[Optional[str], typer.Option(help="Only actions starting with this (e.g. gdpr., export).")] = None,
    actor: Annotated[Optional[str], typer.Option(help="Only this actor.")] = None,
    player: Annotated[Optional[str], typer.Option(help="Only entries about this player.")] = None,
    limit: Annotated[int, typer.Option(help="Newest entries shown.")] = 50,
    csv: Annotated[Optional[Path], typer.Option(help="Write the matching entries to this CSV file instead.")] = None,
    db: DbOption = None,
) -> None:
    """Show or export the audit log, newest first."""
    from pipelines.access import SYSTEM, Access
    from pipelines.audit import audit_entries
    from pipelines.store import Store

    with Store(db) as store:
        acc = Access(store, SYSTEM)
        frame = audit_entries(acc, action=action, actor=actor, player_id=player, limit=None if csv else limit)
        if csv:
            frame.write_csv(csv)
            acc.audit("export.audit", after={"rows": frame.height, "file": str(csv)})
            out.print(f"{frame.height} entries written to {csv}")
            return
    table = Table("id", "time", "actor", "role", "action", "target", "player", "detail")
    for r in frame.iter_rows(named=True):
        table.add_row(str(r["audit_id"]), str(r["logged_at"]), r["actor"], r["role"], r["action"],
                      f"{r['target_kind'] or ''} {r['target_id'] or ''}".strip(), r["player_id"] or "",
                      (r["detail"] or "")[:60])
    out.print(table)


@gdpr_app.command("export")
def gdpr_export(
    player: Annotated[str, typer.Argument(help="The player id.")],
    to: Annotated[Path, typer.Option("--to", help="Output file (.json, or .zip of CSV files).")],
    db: DbOption = None,
) -> None:
    """Export everything stored about a player (audited)."""
    from pipelines.access import Access, Principal
    from pipelines.gdpr import export_player
    from pipelines.store import Store

    fmt = "csv" if to.suffix.lower() in (".zip", ".csv") else "json"
    with Store(db) as store:
        data = export_player(Access(store, Principal(_actor(), "admin", None)), player, fmt)
    to.write_bytes(data)
    out.print(f"{player}: {len(data):,} bytes written to {to}")


@gdpr_app.command("erase")
def gdpr_erase(
    player: Annotated[str, typer.Argument(help="The player id.")],
    reason: Annotated[str, typer.Option(help="The request this erasure answers (required).")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    db: DbOption = None,
) -> None:
    """Anonymize a player: personal data removed everywhere, aggregates and the audit trail kept."""
    from pipelines.access import Access, Principal
    from pipelines.gdpr import erase_player
    from pipelines.store import Store

    if not yes:
        typer.confirm(f"Erase the personal data of {player}? This cannot be undone", abort=True)
    with Store(db) as store:
        counts = erase_player(Access(store, Principal(_actor(), "admin", None)), player, reason)
    out.print(f"{player} anonymized: " + ", ".join(f"{k} {v}" for k, v in counts.items()))

"""``neopain users ...`` (accounts of the bedside app) and ``neopain audit verify``; each change audited."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from pydantic import ValidationError

from neopain.cli.apps import app
from neopain.cli.common import console, user_errors

users_app = typer.Typer(help="Accounts of the bedside app.", no_args_is_help=True)
audit_app = typer.Typer(help="The bedside app's audit trail.", no_args_is_help=True)
units_app = typer.Typer(help="Units (wards): each baby in one, each clinician in one or more.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(units_app, name="units")
app.add_typer(audit_app, name="audit")

PASSWORD_ENV = "NEOPAIN_NEW_PASSWORD"
UserName = Annotated[str, typer.Argument(help="The account's login name.")]


def _url() -> str:
    from neopain.app import AppSettings

    return AppSettings().database_url


def _errors():  # type: ignore[no-untyped-def]
    from neopain.app import AccessError, AccountError, PasswordPolicyError, UserExists

    return user_errors(UserExists, AccountError, AccessError, PasswordPolicyError, ValueError)


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Option(help="Login name (letters, digits, . _ -).")],
    role: Annotated[str, typer.Option(help="nurse | researcher | admin")] = "nurse",
    unit: Annotated[
        list[str] | None,
        typer.Option("--unit", help="A unit of a nurse or researcher (repeat it); default: the only unit."),
    ] = None,
) -> None:
    """Create an account; the password comes from $NEOPAIN_NEW_PASSWORD or a hidden prompt."""
    from neopain.app import UserCreate, command_session, create_user, units_by_name

    password = os.environ.get(PASSWORD_ENV) or typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _errors():
        try:
            spec = UserCreate(username=username, password=password, role=role)
        except ValidationError as exc:
            raise ValueError("; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())) from None
        with command_session(_url()) as db:
            create_user(db, spec, units=units_by_name(db, unit) if unit else None)
    console.print(f"created {role} '{username}'")


@users_app.command("list")
def users_list() -> None:
    """Every account: role, active or disabled, open sessions."""
    from neopain.app import all_users, command_session, user_sessions

    with _errors(), command_session(_url()) as db:
        for user in all_users(db):
            state = "active" if user.is_active else "disabled"
            flag = ", must change password" if user.must_change_password else ""
            typer.echo(f"{user.username}\t{user.role}\t{state}{flag}\t{len(user_sessions(db, user))} sessions")


@users_app.command("disable")
def users_disable(username: UserName) -> None:
    """Disable an account: its sessions end at once; its rows and audit stay."""
    from neopain.app import command_session, set_active, user_by_name

    with _errors(), command_session(_url()) as db:
        ended = set_active(db, user_by_name(db, username), False)
    console.print(f"disabled '{username}' ({ended} sessions ended)")


@users_app.command("enable")
def users_enable(username: UserName) -> None:
    """Re-enable a disabled account."""
    from neopain.app import command_session, set_active, user_by_name

    with _errors(), command_session(_url()) as db:
        set_active(db, user_by_name(db, username), True)
    console.print(f"enabled '{username}'")


@users_app.command("set-role")
def users_set_role(username: UserName, role: Annotated[str, typer.Argument(help="nurse | researcher | admin")]) -> None:
    """Change an account's role; its sessions end so no page keeps the old one."""
    from neopain.app import command_session, set_role, user_by_name

    with _errors(), command_session(_url()) as db:
        set_role(db, user_by_name(db, username), role)
    console.print(f"'{username}' is now {role}")


@users_app.command("reset-password")
def users_reset_password(username: UserName) -> None:
    """A one-time password, printed once on stdout; the user must change it at the next login."""
    from neopain.app import command_session, reset_password, user_by_name

    with _errors(), command_session(_url()) as db:
        password = reset_password(db, user_by_name(db, username))
    console.print(f"one-time password for '{username}' (must be changed at the next login):")
    typer.echo(password)


@users_app.command("sessions")
def users_sessions(username: UserName) -> None:
    """A user's open sessions: started, last seen, address."""
    from neopain.app import command_session, user_by_name, user_sessions

    with _errors(), command_session(_url()) as db:
        rows = user_sessions(db, user_by_name(db, username))
        for row in rows:
            typer.echo(f"{row.created_at.isoformat(timespec='seconds')}\t{row.last_seen_at.isoformat(timespec='seconds')}"
                       f"\t{row.client or '-'}")
    console.print(f"{len(rows)} open sessions")


@users_app.command("logout-all")
def users_logout_all(username: UserName) -> None:
    """End every session of a user (a lost phone, a shared tablet)."""
    from neopain.app import command_session, log_out_everywhere, user_by_name

    with _errors(), command_session(_url()) as db:
        ended = log_out_everywhere(db, user_by_name(db, username))
    console.print(f"ended {ended} sessions of '{username}'")


@users_app.command("set-units")
def users_set_units(
    username: UserName, units: Annotated[list[str] | None, typer.Argument(help="The unit names (none: no unit).")] = None,  # type: ignore[assignment]
) -> None:
    """The units whose babies a nurse or researcher sees."""
    from neopain.app import command_session, set_units, units_by_name, user_by_name

    with _errors(), command_session(_url()) as db:
        set_units(db, user_by_name(db, username), units_by_name(db, list(units or [])))
    console.print(f"'{username}' is in: {', '.join(units or []) or 'no unit'}", markup=False)


@units_app.command("create")
def units_create(name: Annotated[str, typer.Argument(help="The unit's name, e.g. 'NICU A'.")]) -> None:
    """Add a unit (a single-ward install has one, "Main unit", from the start)."""
    from neopain.app import command_session, create_unit

    with _errors(), command_session(_url()) as db:
        create_unit(db, name)
    console.print(f"created unit '{name}'", markup=False)


@units_app.command("list")
def units_list() -> None:
    """Every unit and its clinicians."""
    from neopain.app import command_session, unit_members

    with _errors(), command_session(_url()) as db:
        for unit, members in unit_members(db):
            typer.echo(f"{unit.name}\t{', '.join(members) or '-'}")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit chain; exits 1 naming the first row altered, deleted or inserted out of order."""
    from neopain.app import command_session, verify_chain

    with _errors(), command_session(_url()) as db:
        report = verify_chain(db)
    if not report.ok:
        console.print(f"audit chain broken: {report.problem}", style="red", markup=False)
        raise typer.Exit(1)
    console.print(f"audit chain intact: {report.rows} rows; head {report.head_hash}", markup=False)

"""The `promoplan` command: serve, db, keys, demo."""

from __future__ import annotations

import typer

from app.config import get_settings

cli = typer.Typer(
    help="promoplan: plan, allocate, price, launch and publish sales events.", no_args_is_help=True
)
db_cli = typer.Typer(help="The database schema (Alembic).", no_args_is_help=True)
keys_cli = typer.Typer(help="API keys.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(keys_cli, name="keys")


@cli.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on"),
    port: int = typer.Option(8000, help="Port to listen on"),
) -> None:
    """Apply pending migrations (unless PROMOPLAN_AUTO_MIGRATE=false), then serve."""
    import uvicorn

    from app import migrate
    from app.observability import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    if settings.auto_migrate:
        migrate.upgrade(settings.database_url)
    uvicorn.run("app.main:app", host=host, port=port, log_config=None, workers=1)


@db_cli.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Upgrade the schema (default: to head)."""
    from app import migrate

    migrate.upgrade(get_settings().database_url, revision)
    typer.echo(f"database at {revision}")


@db_cli.command("downgrade")
def db_downgrade(revision: str = typer.Argument("-1")) -> None:
    """Downgrade the schema (default: one step; `base` removes everything)."""
    from app import migrate

    migrate.downgrade(get_settings().database_url, revision)
    typer.echo(f"database at {revision}")


@db_cli.command("current")
def db_current() -> None:
    """Print the schema's revision and the head."""
    from app import migrate
    from app.db import get_engine

    with get_engine().connect() as connection:
        current = migrate.current_revision(connection)
    typer.echo(f"current: {current or 'none'}\nhead:    {migrate.head_revision()}")


@db_cli.command("purge")
def db_purge() -> None:
    """Delete expired Idempotency-Key records and webhook receipts; print the counts."""
    from app.launches.clock import describe_purge, purge_expired

    typer.echo(f"purged {describe_purge(purge_expired())}")


@keys_cli.command("create")
def keys_create(
    role: str = typer.Option(..., help="admin, planner, merchant or viewer"),
    name: str = typer.Option(..., help="Who or what uses the key"),
    merchant: int | None = typer.Option(None, help="Merchant id (merchant keys only)"),
) -> None:
    """Create a key; the key itself is the last line printed."""
    from app import auth
    from app.db import session_scope
    from app.errors import Problem

    try:
        with session_scope() as session:
            key, raw = auth.create_key(session, name=name, role=role, merchant_id=merchant)
            key_id = key.id
    except Problem as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"created {role} key {key_id} ({name}); it is shown only once:")
    typer.echo(raw)


@keys_cli.command("list")
def keys_list() -> None:
    """List keys (never the keys themselves)."""
    from app import auth
    from app.db import session_scope

    with session_scope() as session:
        for key in auth.list_keys(session):
            state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
            merchant = f" merchant={key.merchant_id}" if key.merchant_id else ""
            typer.echo(
                f"{key.id}\t{key.role}\t{key.display_prefix}…\t{state}\t{key.name}{merchant}"
            )


@keys_cli.command("revoke")
def keys_revoke(key_id: int = typer.Argument(..., help="The key's id (see `keys list`)")) -> None:
    """Revoke a key: it stops working at once."""
    from app import auth
    from app.db import session_scope
    from app.errors import Problem

    try:
        with session_scope() as session:
            auth.revoke_key(session, key_id=key_id)
    except Problem as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"revoked key {key_id}")


@cli.command()
def demo(
    force: bool = typer.Option(False, help="Add the demo even if the database has events"),
) -> None:
    """Fill the database with a realistic year of sales events; print how to look."""
    from app import demo as demo_data
    from app import migrate

    settings = get_settings()
    if settings.auto_migrate:
        migrate.upgrade(settings.database_url)
    try:
        lines = demo_data.run(force=force)
    except demo_data.DemoAlreadyLoaded as exc:
        # Not an error: running the README's first command twice must still serve.
        typer.echo(f"{exc}\nFor a key: promoplan keys create --role admin --name me")
        return
    for line in lines:
        typer.echo(line)


def main() -> None:
    cli()

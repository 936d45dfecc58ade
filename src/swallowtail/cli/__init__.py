"""The `swallowtail` command. Each area of the toolkit adds its sub-commands from its own module here."""

from __future__ import annotations

import typer

from swallowtail.cli._common import once_everywhere

app = typer.Typer(
    name="swallowtail",
    help="Butterfly-sparse attention on reconfigurable dataflow accelerators (arXiv 2411.00734).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    from swallowtail.cli import (
        arch,
        baseline,
        demo,
        dse,
        kernel,
        model,
        reproduce,
        roofline,
        simulate,
        train,
        workload,
    )

    app.add_typer(model.app, name="model")
    app.add_typer(arch.app, name="arch")
    app.add_typer(baseline.app, name="baseline")
    app.add_typer(workload.app, name="workload")
    app.add_typer(dse.app, name="dse")
    app.command("kernel")(kernel.kernel)
    app.command("roofline")(roofline.roofline)
    app.command("simulate")(simulate.simulate)
    app.command("reproduce")(reproduce.reproduce)
    app.command("train")(train.train)
    app.command("accuracy-sweep")(train.accuracy_sweep)
    app.command("demo")(demo.demo)
    once_everywhere(app)


_register()


def _version(value: bool) -> None:
    if value:
        from swallowtail import __version__

        typer.echo(f"swallowtail {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Butterfly-sparse attention on reconfigurable dataflow accelerators (arXiv 2411.00734)."""


def main() -> None:
    app()

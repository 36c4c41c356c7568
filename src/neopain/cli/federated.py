"""`neopain federated`: server, site, simulate, certs (docs/FEDERATED.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from neopain.cli.apps import app
from neopain.cli.common import console, user_errors

federated_app = typer.Typer(help="Training across hospitals on Flower: no photo leaves a site.",
                            no_args_is_help=True)
app.add_typer(federated_app, name="federated")

Model = Annotated[str, typer.Option("--model", help="registry model (mobilenet_v2, resnet18, vggface16, ncnn)")]
Rounds = Annotated[int, typer.Option("--rounds", min=1, help="federated rounds")]
LocalEpochs = Annotated[int, typer.Option("--local-epochs", min=1, help="epochs each site trains per round")]
Strategy = Annotated[str, typer.Option("--strategy", help="fedavg | fedprox")]
Mu = Annotated[float, typer.Option("--mu", help="FedProx's proximal weight")]
InputSize = Annotated[int | None, typer.Option("--input-size", help="default: the model's")]
Seed = Annotated[int, typer.Option("--seed", min=0, help="splits, start and every site's shuffle")]
Augment = Annotated[str, typer.Option("--augment", help="online | none | nicu (as `neopain train`)")]
Pretrained = Annotated[bool, typer.Option("--pretrained/--no-pretrained", help="start from the backbone's weights")]
LrHead = Annotated[float, typer.Option("--lr", help="RMSprop learning rate at every site")]
BatchSize = Annotated[int, typer.Option("--batch-size", min=2)]


def _errors():
    from neopain.federated import FederationError, SiteError
    from neopain.train import CheckpointError, TrainDataError

    return user_errors(FederationError, SiteError, TrainDataError, CheckpointError, ValueError, OSError)


def _plan(out: Path, model: str, rounds: int, local_epochs: int, strategy: str, mu: float, input_size: int | None,
          seed: int, augment: str, pretrained: bool, lr: float, batch_size: int, **extra: object):
    from neopain.federated import FederationPlan

    train = {"input_size": input_size, "augment": augment, "pretrained": pretrained, "lr_head": lr,
             "batch_size": batch_size}
    return FederationPlan(out_dir=str(out.resolve()), model=model, rounds=rounds, local_epochs=local_epochs,
                          strategy=strategy, proximal_mu=mu, seed=seed, train=train, **extra)  # type: ignore[arg-type]


@federated_app.command("simulate")
def simulate_command(
    faces: Annotated[list[Path], typer.Argument(help="faces manifest(s): one per site, or one split by --sites")],
    out: Annotated[Path, typer.Option("--out", help="output folder (federated/, results.json, report.html)")],
    sites: Annotated[int | None, typer.Option("--sites", min=2, help="split one manifest's babies into K sites")]
    = None,
    rounds: Rounds = 5,
    local_epochs: LocalEpochs = 1,
    strategy: Strategy = "fedavg",
    mu: Mu = 0.01,
    model: Model = "mobilenet_v2",
    input_size: InputSize = None,
    seed: Seed = 0,
    augment: Augment = "online",
    pretrained: Pretrained = True,
    lr: LrHead = 1e-4,
    batch_size: BatchSize = 16,
    compare: Annotated[bool, typer.Option("--compare/--no-compare",
                                          help="also train central and single-site models on the same splits")]
    = True,
) -> None:
    """Federate on Flower's simulation engine, compare with central and single-site training, report."""
    from neopain.federated import simulate, write_report

    with _errors():
        plan = _plan(out, model, rounds, local_epochs, strategy, mu, input_size, seed, augment, pretrained, lr,
                     batch_size)
        results = simulate(faces, out, plan, sites=sites, compare=compare)
        _, page = write_report(results, out)
    console.print(json.dumps(results["summary"], indent=1))
    typer.echo(str(page))


Certs = Annotated[Path | None, typer.Option("--certs", help="folder with ca.crt, server.pem, server.key "
                                            "(`neopain federated certs`)")]
Insecure = Annotated[bool, typer.Option("--insecure", help="plain HTTP, no TLS (a closed test network only)")]


def _tls(certs: Path | None, insecure: bool):
    from neopain.federated import Tls

    if insecure == (certs is not None):
        raise typer.BadParameter("give --certs DIR (TLS) or --insecure, not both and not neither")
    return None if insecure else Tls.from_dir(certs)  # type: ignore[arg-type]


@federated_app.command("server")
def server_command(
    out: Annotated[Path, typer.Option("--out", help="output folder (model.pt, federation.json, state, logs)")],
    min_sites: Annotated[int, typer.Option("--min-sites", min=1, help="sites each round waits for")] = 2,
    host: Annotated[str, typer.Option("--host", help="address to listen on (0.0.0.0: every interface)")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="the SuperLink's port")] = 9092,
    certs: Certs = None,
    insecure: Insecure = False,
    rounds: Rounds = 5,
    local_epochs: LocalEpochs = 1,
    strategy: Strategy = "fedavg",
    mu: Mu = 0.01,
    model: Model = "mobilenet_v2",
    input_size: InputSize = None,
    seed: Seed = 0,
    augment: Augment = "online",
    pretrained: Pretrained = True,
    lr: LrHead = 1e-4,
    batch_size: BatchSize = 16,
    round_timeout: Annotated[float, typer.Option("--round-timeout", help="seconds a round waits for a site")]
    = 900.0,
    resume: Annotated[bool, typer.Option("--resume", help="continue after OUT's last finished round")] = False,
) -> None:
    """Coordinate a federation: wait for the sites, run the rounds, write OUT/model.pt (export it as usual)."""
    from neopain.federated import run_server

    with _errors():
        tls = _tls(certs, insecure)
        plan = _plan(out, model, rounds, local_epochs, strategy, mu, input_size, seed, augment, pretrained, lr,
                     batch_size, min_sites=min_sites, round_timeout=round_timeout, resume=resume)
        model_file = run_server(plan, host, port, tls)
    typer.echo(str(model_file))


@federated_app.command("site")
def site_command(
    faces: Annotated[Path, typer.Argument(help="this hospital's faces manifest (never leaves the site)")],
    server: Annotated[str, typer.Option("--server", help="the federation server, HOST:PORT")],
    name: Annotated[str | None, typer.Option("--name", help="the site's name in the record (default: folder)")]
    = None,
    ca: Annotated[Path | None, typer.Option("--ca", help="the federation's CA certificate (ca.crt)")] = None,
    insecure: Insecure = False,
    port: Annotated[int, typer.Option("--port", help="local port of the site's app runtime")] = 9094,
) -> None:
    """Take part in a federation with this hospital's faces: they stay here, weights and counts go out."""
    from neopain.federated import Tls, run_site

    if insecure == (ca is not None):
        raise typer.BadParameter("give --ca ca.crt (TLS) or --insecure, not both and not neither")
    with _errors():
        tls = None if insecure else Tls(ca)  # type: ignore[arg-type]
        if tls is not None and not tls.ca.is_file():
            raise FileNotFoundError(f"--ca {tls.ca}: no such file")
        code = run_site(faces, server, name, tls, port)
    raise typer.Exit(code)


@federated_app.command("certs")
def certs_command(
    out: Annotated[Path, typer.Option("--out", help="folder for ca.crt, ca.key, server.pem, server.key")],
    host: Annotated[list[str], typer.Option("--host", help="a name or address the sites dial (repeat)")]
    = ["127.0.0.1", "localhost"],  # noqa: B006  (typer reads the default; it is never mutated)
) -> None:
    """Make a CA and a server certificate for trials (a hospital's IT issues its own in production)."""
    from neopain.federated import make_certs

    with _errors():
        folder = make_certs(out, host)
    typer.echo(str(folder))

"""Training across hospitals on Flower: sites (their faces, split by baby), the site's and the server's
apps, the simulation with its central and single-site comparisons, the deployment's processes and report."""

from __future__ import annotations

from neopain.core.lazy import lazy_api

# Each public name and the module defining it; other stages import these names from here only.
_API = {
    "SiteError": "sites",
    "Site": "sites",
    "read_site": "sites",
    "sites_from": "sites",
    "FederationError": "server",
    "FederationPlan": "server",
    "make_server_app": "server",
    "make_client_app": "client",
    "simulate": "simulate",
    "write_report": "report",
    "Tls": "deploy",
    "run_server": "deploy",
    "run_site": "deploy",
    "make_certs": "certs",
}

__all__ = sorted(_API)  # noqa: PLE0605  (the names are the keys of _API, all strings)
__getattr__ = lazy_api(__name__, _API, globals())

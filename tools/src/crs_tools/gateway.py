"""The nginx gateway for local runs and tests: renders deploy/gateway/nginx.conf.template into a
prefix folder of its own and gives the command that runs nginx in the foreground from there.

The template's placeholders are written like environment variables so that the official nginx
image can render the same file with envsubst (docker compose); here they are filled in by name and
nothing else in the file is touched."""

import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
GATEWAY_DIR = ROOT / "deploy" / "gateway"
TEMPLATE = GATEWAY_DIR / "nginx.conf.template"
PORTAL = GATEWAY_DIR / "portal"
UPSTREAMS = ("registration", "auth", "results")
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")


RATE_LIMIT = re.compile(r"^[ \t]*limit_req zone=.*\n", re.MULTILINE)


# Locally the upstreams are IP addresses, which nginx never looks up, and no proxy stands in front.
NO_LOOKUPS = "127.0.0.1"
NO_ONE = "unix:"  # set_real_ip_from's value for UNIX sockets: the gateway listens on TCP only


def render(listen: str, upstreams: dict[str, str], portal_root: Path, template: Path = TEMPLATE, *,
           rate_limits: bool = True, trusted_proxies: Sequence[str] = (), resolver: str = NO_LOOKUPS) -> str:
    """The config text. `upstreams` maps each service to its host:port; a name is looked up through
    `resolver` (host[:port]). `trusted_proxies` are the addresses or CIDR ranges whose X-Forwarded-For
    gives the client's address (none by default). `rate_limits=False` drops the per-address limits
    (the benchmarks load it from one address)."""
    missing = [name for name in UPSTREAMS if not upstreams.get(name)]
    if missing:
        raise ValueError(f"no address for the upstream(s) {', '.join(missing)}")
    values = {"GATEWAY_LISTEN": listen, "PORTAL_ROOT": str(portal_root), "RESOLVER": resolver,
              # One `set_real_ip_from` line each: "a;\n    set_real_ip_from b" continues the template's line.
              "TRUSTED_PROXIES": ";\n    set_real_ip_from ".join(trusted_proxies or [NO_ONE])}
    values.update({f"{name.upper()}_UPSTREAM": upstreams[name] for name in UPSTREAMS})

    def fill(match: re.Match) -> str:
        if match.group(1) not in values:
            raise ValueError(f"{template.name}: unknown placeholder {match.group(0)}")
        return values[match.group(1)]

    text = PLACEHOLDER.sub(fill, template.read_text())
    return text if rate_limits else RATE_LIMIT.sub("", text)


def find_nginx() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return next((path for path in NGINX_CANDIDATES if os.access(path, os.X_OK)), None)


def _readable_by_everyone(folder: Path) -> bool:
    """Whether nginx's worker processes can read `folder` after dropping root for `nobody`."""
    for part in [folder, *folder.parents]:
        if not part.stat().st_mode & stat.S_IXOTH:
            return False
    return all(path.stat().st_mode & (stat.S_IROTH if path.is_file() else stat.S_IXOTH | stat.S_IROTH)
               for path in folder.rglob("*"))


def portal_root_for_workers(prefix: Path, portal: Path = PORTAL) -> Path:
    """The portal folder itself, so edits show at once. Started as root, nginx's workers run as
    `nobody`: when that user cannot read the checkout (a private parent folder), serve a copy from a
    world-readable folder instead."""
    if os.geteuid() != 0 or _readable_by_everyone(portal):
        return portal
    copy_parent = Path(tempfile.mkdtemp(prefix="crs-portal-"))
    copy_parent.chmod(0o755)
    copy = copy_parent / "portal"
    shutil.copytree(portal, copy)
    for path in [copy, *copy.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    (prefix / "portal-copy").write_text(str(copy_parent))
    return copy


def prepare(prefix: Path, listen: str, upstreams: dict[str, str], portal: Path = PORTAL, **options) -> Path:
    """Writes `prefix/nginx.conf` and returns its path; `options` as for `render`."""
    prefix.mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(render(listen, upstreams, portal_root_for_workers(prefix, portal), **options))
    return conf


def cleanup(prefix: Path) -> None:
    """Removes the world-readable copy of the portal, if one was made."""
    marker = prefix / "portal-copy"
    if marker.exists():
        shutil.rmtree(marker.read_text().strip(), ignore_errors=True)
        marker.unlink()


def command(nginx: str, prefix: Path, conf: Path, *, test_only: bool = False) -> list[str]:
    """nginx in the foreground with everything under `prefix`; `-e stderr` keeps even its start-up
    errors out of /var/log/nginx."""
    args = [nginx, "-p", f"{prefix}/", "-c", str(conf), "-e", "stderr"]
    return [*args, "-t", "-q"] if test_only else [*args, "-g", "daemon off;"]


def main() -> None:
    """`python -m crs_tools.gateway [LISTEN]`: prints the config rendered for the default local ports."""
    listen = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:8080"
    ports = {"registration": 8001, "auth": 8002, "results": 8003}
    print(render(listen, {name: f"127.0.0.1:{port}" for name, port in ports.items()}, PORTAL), end="")


if __name__ == "__main__":
    main()

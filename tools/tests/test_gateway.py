import subprocess

from crs_tools import gateway

UPSTREAMS = {name: "127.0.0.1:9001" for name in gateway.UPSTREAMS}


def test_without_rate_limits_only_the_limit_req_lines_go():
    limited = gateway.render("127.0.0.1:9000", UPSTREAMS, gateway.PORTAL)
    unlimited = gateway.render("127.0.0.1:9000", UPSTREAMS, gateway.PORTAL, rate_limits=False)

    assert limited.count("limit_req zone=") == 4
    assert "limit_req zone=" not in unlimited
    kept = [line for line in limited.splitlines() if "limit_req zone=" not in line]
    assert unlimited.splitlines() == kept


def test_each_trusted_proxy_gets_a_line_and_none_trusts_no_one():
    trusting = gateway.render("127.0.0.1:9000", UPSTREAMS, gateway.PORTAL, trusted_proxies=["10.0.0.0/8", "192.0.2.7"])
    assert [line.strip() for line in trusting.splitlines() if line.lstrip().startswith("set_real_ip_from")] == [
        "set_real_ip_from 10.0.0.0/8;", "set_real_ip_from 192.0.2.7;"]
    default = gateway.render("127.0.0.1:9000", UPSTREAMS, gateway.PORTAL)
    assert [line.strip() for line in default.splitlines() if line.lstrip().startswith("set_real_ip_from")] == ["set_real_ip_from unix:;"]


def test_nginx_accepts_the_compose_shape(tmp_path):
    """Service names looked up through Docker's DNS while nginx runs: nothing is looked up at start,
    so `nginx -t` passes here, where none of these names exists."""
    nginx = gateway.find_nginx()
    assert nginx, "nginx is not installed (Debian package nginx; deploy/local/ensure-system-packages.sh)"
    names = {"registration": "registration:8001", "auth": "auth:8002", "results": "results:8003"}
    conf = gateway.prepare(tmp_path, "8080", names, resolver="127.0.0.11")  # -t binds nothing
    check = subprocess.run(gateway.command(nginx, tmp_path, conf, test_only=True), capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert "resolver 127.0.0.11 valid=5s" in conf.read_text()

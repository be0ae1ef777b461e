from crs_tools import gateway

UPSTREAMS = {name: ["127.0.0.1:9001"] for name in gateway.UPSTREAMS}


def test_without_rate_limits_only_the_limit_req_lines_go():
    limited = gateway.render("127.0.0.1:9000", UPSTREAMS, gateway.PORTAL)
    unlimited = gateway.render("127.0.0.1:9000", UPSTREAMS, gateway.PORTAL, rate_limits=False)

    assert limited.count("limit_req zone=") == 4
    assert "limit_req zone=" not in unlimited
    kept = [line for line in limited.splitlines() if "limit_req zone=" not in line]
    assert unlimited.splitlines() == kept

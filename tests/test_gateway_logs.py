"""The gateway never logs a verification's query (it holds a family name), on real nginx with
stand-in upstreams and the DNS stand-in of tests/test_gateway.py."""

import httpx

from tests.support.gateway import DnsStandIn, GatewayProcess
from tests.test_gateway import addresses, client_from, upstreams  # noqa: F401 (fixture)

VERIFY = "/api/results/verify/2222-3333-4444"


def test_a_service_name_that_does_not_resolve_logs_no_verification_query(upstreams, tmp_path):
    """nginx's error line for a name it cannot resolve quotes the whole request line."""
    names = DnsStandIn().start()  # knows no name: NXDOMAIN, as Docker's DNS while a service is scaled to 0
    gateway = GatewayProcess(addresses(upstreams, results="results.crs.test:8003"), tmp_path,
                             resolver=names.address).start()
    try:
        with client_from(gateway, "127.0.0.3") as client:
            answer = client.get(VERIFY, params={"family_name": "Privatefamilyname"})
        assert answer.status_code == 503
    finally:
        gateway.stop()
        names.stop()
    leaked = [line for line in gateway.log().splitlines() if "Privatefamilyname" in line]
    assert leaked == [], f"the gateway logged the query: {leaked[0]}"


def test_a_rate_limited_verification_logs_no_query(upstreams, tmp_path):
    """nginx's error line for a refused rate quotes the whole request line."""
    gateway = GatewayProcess(addresses(upstreams), tmp_path).start()
    try:
        with client_from(gateway, "127.0.0.3") as client:
            statuses = [client.get(VERIFY, params={"family_name": "Privatefamilyname"}).status_code
                        for _ in range(30)]
        assert 429 in statuses
    finally:
        gateway.stop()
    leaked = [line for line in gateway.log().splitlines() if "Privatefamilyname" in line]
    assert leaked == [], f"the gateway logged the query: {leaked[0]}"

"""A client cannot choose the address the system limits it by. The gateway, in front of the real
services, takes the client's address from X-Forwarded-For only when a trusted proxy sent it, and
the services take it from the gateway's header only when the gateway sent it (uvicorn's
FORWARDED_ALLOW_IPS, 127.0.0.1 by default). Seen through the results service's own verification
limit: a bucket of VERIFY_BURST (10) per address, smaller than the gateway's (20)."""

import httpx

from tests.support.gateway import GatewayProcess

VERIFY = "/api/results/verify/2222-3333-4444"


def limited_by_results(response: httpx.Response) -> bool:
    return response.status_code == 429 and response.json()["code"] == "too_many_requests"


def test_a_forged_x_forwarded_for_moves_no_one_into_another_bucket(services, tmp_path):
    """127.0.0.2 plays the ingress in front of the gateway (trusted); 127.0.0.3 a client that
    forges X-Forwarded-For, through the gateway and straight at the results service."""
    gateway = GatewayProcess({name: f"127.0.0.1:{services[name].port}" for name in ("registration", "auth", "results")},
                             tmp_path, trusted_proxies=["127.0.0.2"]).start()

    def client(source: str, base_url: str) -> httpx.Client:
        return httpx.Client(base_url=base_url, timeout=10, transport=httpx.HTTPTransport(local_address=source))

    def verify(http: httpx.Client, forwarded_for: str) -> httpx.Response:
        return http.get(VERIFY, params={"family_name": "Chen"}, headers={"X-Forwarded-For": forwarded_for})

    try:
        with (client("127.0.0.3", gateway.url) as forger, client("127.0.0.2", gateway.url) as ingress,
              client("127.0.0.3", services.url("results")) as forger_direct):
            # Through the ingress, 13 clients: each with a bucket of its own at the results service.
            assert not any(limited_by_results(verify(ingress, f"203.0.113.{i}")) for i in range(13))

            # The forger's 13 "clients" are one at the results service too: held back after 10.
            forged = [verify(forger, f"198.51.100.{i}") for i in range(13)]
            assert not any(limited_by_results(r) for r in forged[:10])
            assert limited_by_results(forged[-1]), forged[-1].text

            # Straight at the service, the header is not the gateway's: still the forger's bucket.
            assert limited_by_results(verify(forger_direct, "198.51.100.200"))
    finally:
        gateway.stop()

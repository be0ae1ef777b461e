from pydantic import Field

from crs_shared.config import DEV_SECRET, ServiceSettings


class Settings(ServiceSettings):
    port: int = Field(8003, validation_alias="RESULTS_PORT")
    # Access tokens are verified with auth's public keys.
    jwks_url: str = "http://127.0.0.1:8002/api/auth/.well-known/jwks.json"
    # Operators read batch reports with `Authorization: Bearer <operator_token>`.
    operator_token: str = Field(DEV_SECRET, repr=False)
    # Verification by institutions, per client address: a bucket of `verify_burst` requests that
    # refills at `verify_per_minute`. In-process, so each replica counts on its own.
    verify_per_minute: float = Field(20.0, gt=0)
    verify_burst: int = Field(10, ge=1)
    # Client addresses it keeps a bucket for, those seen most recently (about 250 bytes each).
    verify_max_clients: int = Field(100_000, ge=1)
    # GET /api/results/me reads a candidate's results from a per-process cache: kept this many
    # seconds, for at most this many candidates. The release time still holds to the request (the
    # rule is applied to the cached list at each request); a result stored or corrected by another
    # replica shows up here up to this late, twice this while the database is slow to answer (one this
    # process stores, at once). 0 turns it off.
    results_cache_seconds: float = Field(1.0, ge=0)
    results_cache_entries: int = Field(5_000, ge=1)
    # How often each process looks for parts whose release time has passed and whose release is not
    # yet announced (ResultsReleased). Any number of replicas may look; each part is announced once.
    release_announcer_poll_seconds: float = Field(2.0, gt=0)

"""Log-in: log-ins per second and latency at `clients` concurrent connections through the gateway,
with wrk; floor: raw argon2id verifications per second, same parameters, one process per core."""

from bench import floors, load
from bench.profiles import Profiler, no_profile
from bench.release_day import PASSWORD, Candidates
from bench.system import System
from crs_shared.passwords import usable_cpus

# The floor is measured just before the log-ins and again just after, and the two count as one
# 10 s measurement: the machine's speed drifts by several percent within minutes (bench/README.md),
# and a floor on one side only would count that drift for or against the system.
FLOOR_SECONDS_EACH_SIDE = 5.0


def run(system: System, candidates: Candidates, *, requests: int, clients: int, max_seconds: float,
        profiler: Profiler = no_profile) -> dict:
    cores = usable_cpus()  # as many as auth's argon2id threads
    before = floors.argon2_verifications(FLOOR_SECONDS_EACH_SIDE, cores)
    with profiler("login", {"auth": system.pid("auth")}) as profiles, system.cpu_use() as cpu:
        measured = load.run(f"{system.gateway_url}/", "login.lua", requests=requests, connections=clients,
                            max_seconds=max_seconds, args=[str(len(candidates.ids)), PASSWORD])
    measured["cpu_seconds_by_process"] = cpu
    floor = floors.on_both_sides(before, floors.argon2_verifications(FLOOR_SECONDS_EACH_SIDE, cores))
    return {"parameters": {"requests": requests, "clients": clients, "max_seconds": max_seconds},
            "measured": measured, "floor": floor, "profiles": profiles,
            "ratios": {"logins_over_argon2": measured["ok_per_second"] / floor["per_second"]}}

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families


def sample(name: str, **labels) -> float:
    """The current value of a metric of this process (0 when it has not been touched yet)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scraped(text: str, name: str, **labels) -> float:
    """The sum of the samples called `name` in a /metrics page whose labels include `labels`."""
    return sum(s.value for family in text_string_to_metric_families(text) for s in family.samples
               if s.name == name and labels.items() <= s.labels.items())

"""The sandbox's simulated business for a config that reads the sandbox: the same one the
sandbox server serves (``sandbox.server.SandboxServer``: its seed, scale and fraud switch,
simulated until tomorrow), for assets that score themselves against its ground truth."""

from datetime import UTC, datetime, timedelta

from orchestration.config import ChannelHouseConfig


def sandbox_business(config: ChannelHouseConfig):
    """``sandbox.business.Business`` as the sandbox server builds it for ``config.sandbox``
    (imported here: only sandbox deployments pay for it)."""
    from sandbox.business import Business

    sb = config.sandbox
    return Business(
        seed=sb.seed,
        scale=sb.scale,
        end=datetime.now(UTC).date() + timedelta(days=1),
        fraud=sb.fraud,
    )

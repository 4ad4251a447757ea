"""``python -m sandbox``: serve the sandbox APIs until interrupted."""

from __future__ import annotations

import argparse
import logging
import signal
import time

from sandbox.server import RATE_MULTIPLIERS, SandboxServer


def main() -> None:
    parser = argparse.ArgumentParser(description="ChannelHouse marketplace API sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--rate-limits", choices=sorted(RATE_MULTIPLIERS), default="fast")
    parser.add_argument(
        "--fraud", action="store_true", help="inject fraud cases (Business.fraud_truth())"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    started = time.perf_counter()
    server = SandboxServer(
        host=args.host,
        port=args.port,
        seed=args.seed,
        scale=args.scale,
        rate_limits=args.rate_limits,
        fraud=args.fraud,
    ).start()
    print(
        f"sandbox serving {server.url} (seed {args.seed}, scale {args.scale}, "
        f"ready in {time.perf_counter() - started:.1f}s)",
        flush=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: (server.stop(), exit(0)))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()

"""`/ws/strategies`: live M2M of a user's strategies, one update per strategy per minute.

    → {"action": "subscribe"}                       every strategy of the user
    → {"action": "subscribe", "strategy": 7}        one strategy (must be the user's, else an error)
    ← {"type": "subscribed", "strategy": 7}
    ← {"type": "m2m", "strategy": 7, "time": 1764561000, "open": …, "high": …, "low": …, "close": …,
       "m2m": …, "realised": …, "unrealised": …, "stale_legs": 0}

`time` is the candle's minute (Unix seconds); a rerun of a minute sends the same `time` again with
the candle's new values. Events come from the user's own channel-layer group
(strategies.live.strategies_group), so a connection never sees another user's strategies.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from channels.db import database_sync_to_async

from strategies.live import strategies_group
from strategies.models import Strategy
from tradeviz.errors import InvalidInput, NotFound
from tradeviz.ws.consumers import StreamConsumer

ALL_STRATEGIES = "all"


@database_sync_to_async
def _owned_strategy(user_id: int, strategy_id: int) -> bool:
    return Strategy.objects.filter(owner_id=user_id, pk=strategy_id).exists()


class StrategiesConsumer(StreamConsumer):
    route = "strategies"

    async def subscription_key(self, message: Mapping[str, Any]) -> tuple[Hashable, Any]:
        raw = message.get("strategy")
        if raw is None:
            return ALL_STRATEGIES, None
        if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).isdigit():
            raise InvalidInput("strategy must be the id of one of your strategies")
        strategy_id = int(raw)
        if not await _owned_strategy(self.user.pk, strategy_id):
            raise NotFound("No such strategy.")
        return strategy_id, strategy_id

    async def start_subscription(self, key: Hashable, subscription: Any, *, request_id: Any = None) -> None:
        await self.join(strategies_group(self.user.pk))
        self.reply(self.subscribed_message(key, subscription), request_id=request_id)

    async def stop_subscription(self, key: Hashable, subscription: Any) -> None:
        await self.leave(strategies_group(self.user.pk))

    def subscribed_message(self, key: Hashable, subscription: Any) -> dict[str, Any]:
        return {"type": "subscribed", "strategy": subscription}

    def unsubscribed_message(self, key: Hashable, subscription: Any) -> dict[str, Any]:
        return {"type": "unsubscribed", "strategy": subscription}

    def strategies_m2m(self, event: dict[str, Any]) -> None:
        """One run's updates for this user (strategies.m2m via strategies.live.publish_m2m)."""
        for update in event["updates"]:
            strategy_id = update["strategy"]
            for key, wanted in self.subscriptions.items():
                if wanted is None or wanted == strategy_id:
                    self.push((key, "m2m", strategy_id), {"type": "m2m", **update})

import asyncio
import json
import socket
from collections import Counter
from functools import partial

from aiohttp import web
from pydantic import ValidationError

from pipeline.contract import Order, PaymentMethod, Source
from pipeline.simulate import BREAKERS, OrderGenerator, Tally, percentile, run


def generated(count=2000, seed=7, **options):
    generator = OrderGenerator(seed=seed, **options)
    return [generator.next() for _ in range(count)]


def is_valid(body: dict) -> bool:
    try:
        Order.model_validate(body)
        return True
    except ValidationError:
        return False


def test_orders_meant_valid_pass_the_contract_and_broken_ones_fail_it():
    orders = generated(invalid_share=0.3)
    assert all(is_valid(o.body) == o.valid for o in orders)
    assert 450 < sum(not o.valid for o in orders) < 750


def test_each_way_of_breaking_an_order_alone_breaks_the_contract():
    generator = OrderGenerator(seed=1)
    for breaker in BREAKERS:
        body = generator.valid_order()
        breaker(body, generator.rng)
        assert not is_valid(body), body


def test_every_source_and_payment_method_appears():
    bodies = [o.body for o in generated(invalid_share=0)]
    assert {b["source"] for b in bodies} == {s.value for s in Source}
    assert {b.get("payment_method") for b in bodies} == {m.value for m in PaymentMethod} | {None}


def test_customer_and_product_popularity_is_skewed():
    bodies = [o.body for o in generated(invalid_share=0)]
    for key in ("customer_id", "product_id"):
        counts = sorted(Counter(b[key] for b in bodies).values(), reverse=True)
        assert counts[0] > 5 * counts[len(counts) // 2], key


def test_some_customers_are_unknown_to_the_dimension():
    bodies = [o.body for o in generated(count=5000, invalid_share=0, customers=100)]
    assert 0 < sum(b["customer_id"] > 100 for b in bodies) < 150


def test_the_same_seed_gives_the_same_orders():
    strip = lambda orders: [({k: v for k, v in o.body.items() if k != "created_at"}, o.valid) for o in orders]  # noqa: E731
    assert strip(generated(200, seed=1)) == strip(generated(200, seed=1)) != strip(generated(200, seed=2))


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 99), percentile(values, 100)) == (
        50,
        95,
        99,
        100,
    )
    assert percentile([3.0, 1.0, 2.0], 50) == 2
    assert percentile([], 99) == 0


def test_a_run_is_ok_only_without_surprises():
    assert Tally(sent_valid=2, sent_invalid=1, accepted=2, rejected_invalid=1).ok
    for surprise in (
        {"rejected_valid": 1},
        {"accepted_invalid": 1},
        {"given_up": 1},
        {"unexpected": Counter({500: 1})},
    ):
        assert not Tally(**surprise).ok, surprise


def fake_api(received: list) -> web.Application:
    """Answers the contract like the API, but 503 the first time it sees a body."""

    async def answer(request: web.Request, batch: bool) -> web.Response:
        text = await request.text()
        received.append(text)
        if received.count(text) == 1:
            return web.json_response({"errors": []}, status=503, headers={"Retry-After": "0"})
        results = []
        for index, item in enumerate(json.loads(text) if batch else [json.loads(text)]):
            try:
                order = Order.model_validate(item)
                results.append({"index": index, "order_id": str(order.order_id), "total": str(order.total)})
            except ValidationError:
                results.append({"index": index, "errors": [{"field": "?", "reason": "?"}]})
        accepted = sum("order_id" in r for r in results)
        body = {"accepted": accepted, "rejected": len(results) - accepted, "results": results} if batch else results[0]
        return web.json_response(body, status=202 if accepted else 422)

    app = web.Application()
    app.router.add_post("/orders", partial(answer, batch=False))
    app.router.add_post("/orders/batch", partial(answer, batch=True))
    return app


async def run_against(app: web.Application, **options) -> Tally:
    runner = web.AppRunner(app)
    await runner.setup()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(runner, sock).start()
        try:
            return await run(progress=False, api_url="http://{}:{}".format(*sock.getsockname()), **options)
        finally:
            await runner.cleanup()


def test_a_503_is_retried_with_the_same_body_and_every_order_is_tallied(tmp_path):
    for mode, batch_size in (("single", 1), ("batch", 10)):
        received: list[list[dict]] = []
        out = tmp_path / f"{mode}.jsonl"
        tally = asyncio.run(
            run_against(
                fake_api(received),
                rate=200,
                duration=0.5,
                mode=mode,
                batch_size=batch_size,
                invalid_share=0.2,
                seed=5,
                accepted_out=out,
            )
        )
        assert tally.ok, tally.summary()
        assert tally.sent == 100, tally.summary()
        assert tally.sent_invalid > 0, tally.summary()
        assert tally.retries == len(received) // 2 == 100 // batch_size
        assert all(count == 2 for count in Counter(received).values())  # each body once refused, then resent as is
        assert (tally.accepted, tally.rejected) == (tally.sent_valid, tally.sent_invalid)
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(lines) == tally.accepted
        assert all(is_valid(line) for line in lines)


def test_a_refused_connection_is_retried_then_given_up():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    tally = asyncio.run(
        run(rate=10, duration=0.1, mode="single", max_retries=1, progress=False, api_url=f"http://127.0.0.1:{port}")
    )
    assert (tally.sent, tally.network_errors, tally.retries, tally.given_up) == (1, 2, 1, 1)
    assert not tally.ok

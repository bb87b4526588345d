from collections import Counter

from pydantic import ValidationError

from pipeline.contract import Order, PaymentMethod, Source
from pipeline.simulate import OrderGenerator, Tally, percentile


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
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) == (50, 99, 100)
    assert percentile([], 99) == 0


def test_a_run_is_ok_only_without_surprises():
    assert Tally(sent=3, accepted=2, rejected_invalid=1).ok
    assert not Tally(rejected_valid=1).ok and not Tally(given_up=1).ok and not Tally(unexpected=Counter({500: 1})).ok

"""REDIS_URL's three forms read exactly, and every malformed one refused with a message that names the
part that is wrong and never the password."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from bot.storage.redis_url import Mode, RedisTarget, RedisUrlError, parse_redis_url

SECRET = "s3cr3t-p@ss"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/0", RedisTarget(Mode.SINGLE, url="redis://127.0.0.1:6379/0")),
        (
            "rediss://:pw@redis.example:6380/2",
            RedisTarget(Mode.SINGLE, url="rediss://:pw@redis.example:6380/2"),
        ),
        ("unix:///srv/data/redis.sock", RedisTarget(Mode.SINGLE, url="unix:///srv/data/redis.sock")),
        (
            "redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2:26380,sentinel-c/stadtfunk/3",
            RedisTarget(
                Mode.SENTINEL,
                nodes=(("10.0.0.1", 26379), ("10.0.0.2", 26380), ("sentinel-c", 26379)),
                password="pw",
                service="stadtfunk",
                db=3,
            ),
        ),
        (
            "redis+sentinel://s1:26379/mymaster",
            RedisTarget(Mode.SENTINEL, nodes=(("s1", 26379),), service="mymaster"),
        ),
        (
            "redis+sentinel://ops:pw%40x@[::1]:26379/stadtfunk/0",
            RedisTarget(
                Mode.SENTINEL, nodes=(("::1", 26379),), username="ops", password="pw@x", service="stadtfunk"
            ),
        ),
        (
            "redis+cluster://:pw@node-a:7000,node-b:7001/",
            RedisTarget(Mode.CLUSTER, nodes=(("node-a", 7000), ("node-b", 7001)), password="pw"),
        ),
        ("REDIS+CLUSTER://node-a:7000", RedisTarget(Mode.CLUSTER, nodes=(("node-a", 7000),))),
    ],
)
def test_each_form_is_read_exactly(url: str, expected: RedisTarget) -> None:
    assert parse_redis_url(url) == expected


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("localhost:6379", "must look like"),
        ("http://:{secret}@h:1/", "unknown scheme 'http'"),
        ("redis+sentinel://:{secret}@h1:26379,h2:26379", "name the service and database"),
        ("redis+sentinel://:{secret}@h1:26379/svc/zero", "database number"),
        ("redis+sentinel://:{secret}@h1:26379/svc/0/more", "name the service and database"),
        ("redis+sentinel://{secret}@h1:26379/svc/0", "write the password as"),
        ("redis+sentinel://:{secret}@h1:notaport/svc/0", "not host:port"),
        ("redis+sentinel://:{secret}@h1:26379,,h2:26379/svc/0", "not host:port"),
        ("redis+cluster://:{secret}@h1:7000/1", "only database 0"),
        ("redis+cluster://:{secret}@h1:99999/", "not host:port"),
        ("redis+cluster://:{secret}@h1:7000/?ssl=true", "no options"),
    ],
)
def test_a_malformed_url_is_refused_without_repeating_the_password(url: str, says: str) -> None:
    with pytest.raises(RedisUrlError, match=says) as refused:
        parse_redis_url(url.format(secret=SECRET))
    assert SECRET not in str(refused.value)


def test_settings_refuse_a_malformed_url_at_start(make_settings: Any) -> None:
    with pytest.raises(ValidationError) as refused:
        make_settings(redis_url=f"redis+cluster://:{SECRET}@h1:7000/5")
    assert "only database 0" in str(refused.value)
    assert SECRET not in str(refused.value)

"""Settings come from the environment; these parse its URLs."""

import pytest

from mailman_site.settings import cache_from_url, database_from_url, haystack_from_url, smtp_from_url


def test_sqlite_gets_wal_and_a_busy_timeout():
    config = database_from_url("sqlite:////tmp/x.sqlite3")
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert "journal_mode=WAL" in config["OPTIONS"]["init_command"]
    assert config["OPTIONS"]["timeout"] >= 5
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_postgres_url_is_understood():
    config = database_from_url("postgres://postgres:pw@db.internal:5433/lists")
    assert config["ENGINE"] == "django.db.backends.postgresql"
    where = (config["HOST"], config["PORT"], config["NAME"], config["USER"])
    assert where == ("db.internal", 5433, "lists", "postgres")


def test_postgres_prepares_the_mail_paths_statements_unless_a_pooler_forbids_it(monkeypatch):
    monkeypatch.delenv("DATABASE_PREPARED_STATEMENTS", raising=False)
    assert database_from_url("postgres://db/lists")["OPTIONS"]["prepare_threshold"] == 0
    monkeypatch.setenv("DATABASE_PREPARED_STATEMENTS", "off")
    assert database_from_url("postgres://db/lists")["OPTIONS"]["prepare_threshold"] is None


def test_search_url_chooses_fts5_whoosh_or_elasticsearch():
    assert haystack_from_url("sqlite:///srv/search.sqlite3") == {
        "ENGINE": "archive.fts5_backend.Fts5Engine",
        "PATH": "/srv/search.sqlite3",
    }
    assert haystack_from_url("fts5:///srv/search.sqlite3") == haystack_from_url("sqlite:///srv/search.sqlite3")
    assert haystack_from_url("whoosh:///srv/index") == {
        "ENGINE": "archive.whoosh_backend.ArchiveWhooshEngine",
        "PATH": "/srv/index",
    }
    es = haystack_from_url("elasticsearch://search:9200/lists")
    assert es["ENGINE"].endswith("Elasticsearch7SearchEngine")
    assert (es["URL"], es["INDEX_NAME"]) == ("http://search:9200/", "lists")


def test_the_fts5_index_defaults_to_var_search_sqlite3():
    from mailman_site.settings import VAR_DIR

    assert haystack_from_url("sqlite://")["PATH"] == str(VAR_DIR / "search.sqlite3")


@pytest.mark.parametrize("url", ["solr://x", "http://x"])
def test_unknown_search_url_is_a_clear_error(url):
    with pytest.raises(ValueError, match="SEARCH_URL"):
        haystack_from_url(url)


def test_smtp_url_carries_tls_and_credentials():
    assert smtp_from_url("smtp://localhost") == {
        "EMAIL_HOST": "localhost",
        "EMAIL_PORT": 25,
        "EMAIL_HOST_USER": "",
        "EMAIL_HOST_PASSWORD": "",
        "EMAIL_USE_SSL": False,
        "EMAIL_USE_TLS": False,
    }
    tls = smtp_from_url("smtp+starttls://ann%40x.org:p%2Fw@mail.example.com:587")
    assert (tls["EMAIL_HOST_USER"], tls["EMAIL_HOST_PASSWORD"], tls["EMAIL_PORT"]) == ("ann@x.org", "p/w", 587)
    assert tls["EMAIL_USE_TLS"] and not tls["EMAIL_USE_SSL"]
    assert smtp_from_url("smtps://mail.example.com")["EMAIL_PORT"] == 465


def test_unknown_smtp_scheme_is_a_clear_error():
    with pytest.raises(ValueError, match="SMTP_URL"):
        smtp_from_url("ftp://x")


def test_cache_url_chooses_a_shared_cache():
    assert cache_from_url("")["BACKEND"].endswith("LocMemCache")
    assert cache_from_url("redis://127.0.0.1:6379/2") == {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/2",
    }
    with pytest.raises(ValueError, match="CACHE_URL"):
        cache_from_url("memcached://x")

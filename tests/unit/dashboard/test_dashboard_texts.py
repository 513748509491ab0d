"""Every dashboard word exists in both languages, and every page's own words too: a page never
shows an Indonesian sentence with an English hole in it, nor a KeyError."""

from __future__ import annotations

import importlib
import pkgutil
import string

from kasir.dashboard import pages, texts


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def word_tables() -> dict[str, dict[str, dict[str, str]]]:
    tables = {"kasir.dashboard.texts": texts.TEXTS}
    for module in pkgutil.iter_modules(pages.__path__):
        loaded = importlib.import_module(f"kasir.dashboard.pages.{module.name}")
        if hasattr(loaded, "WORDS"):
            tables[loaded.__name__] = loaded.WORDS
    return tables


def test_both_languages_have_the_same_words_with_the_same_placeholders() -> None:
    for name, table in word_tables().items():
        assert set(table) == {"id", "en"}, name
        assert set(table["id"]) == set(table["en"]), name
        for key, text in table["id"].items():
            assert placeholders(text) == placeholders(table["en"][key]), (name, key)
            assert text.strip(), (name, key)


def test_a_page_does_not_redefine_a_shared_word() -> None:
    shared = set(texts.TEXTS["id"])
    for name, table in word_tables().items():
        if name != "kasir.dashboard.texts":
            assert not shared & set(table["id"]), name


def test_ages_read_as_people_say_them() -> None:
    words = texts.TEXTS["en"]
    assert texts.age(5, words) == "5 s"
    assert texts.age(600, words) == "10 min"
    assert texts.age(3 * 3600, words) == "3 h"
    assert texts.age(5 * 86400, words) == "5 days"
    assert texts.age(-3, words) == "0 s"

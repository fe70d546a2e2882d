"""Message clean-up: Slack markup, quotes, politeness, typo fixes and clause splitting."""

from __future__ import annotations

import pytest

from agent.chat.offline.text import fix_typos, prepare, strip_politeness


def test_prepare_drops_slack_mentions_and_unwraps_links() -> None:
    prepared = prepare("<@U123ABC> block <http://203.0.113.7|203.0.113.7> on <#C1|ops> fw")
    assert prepared.clauses == ["block 203.0.113.7 on fw"]


def test_prepare_sets_quotes_aside() -> None:
    prepared = prepare('close TCK-1 "disable user ceo"\n&gt; reboot db-01\n```rm -rf```')
    assert prepared.quoted == ["rm -rf", "reboot db-01", "disable user ceo"]
    assert "disable" not in prepared.text and "reboot" not in prepared.text


def test_prepare_unwraps_single_backticks_as_names() -> None:
    assert prepare("show `contoso-ny-web-04`").clauses == ["show contoso-ny-web-04"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hey opshand, could you please reboot web-02?", "reboot web-02"),
        ("pls restart dns, thanks!", "restart dns"),
        ("Hi! Can you tell me what breaks if db reboots?", "what breaks if db reboots"),
        ("would you mind rebooting web-02", "reboot web-02"),
        ("I'd like you to patch web-02 tonight", "patch web-02 tonight"),
        ("ok, go ahead and close TCK-1", "close TCK-1"),
        ("all web servers pending reboot", "all web servers pending reboot"),
    ],
)
def test_strip_politeness(text: str, expected: str) -> None:
    assert strip_politeness(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rebot web-02", "reboot web-02"),
        ("restrat contoso-dns", "restart contoso-dns"),
        ("dissable user jdoe", "disable user jdoe"),
        ("escalte TCK-1", "escalate TCK-1"),
        ("which hosts match", "which hosts match"),  # a real word, one edit from "patch"
        ("show contoso-ny-rebot-01", "show contoso-ny-rebot-01"),  # part of a name: untouched
        ("which windows servers", "which windows servers"),
    ],
)
def test_fix_typos(text: str, expected: str) -> None:
    assert fix_typos(text) == expected


def test_prepare_splits_two_requests_but_not_a_target_list() -> None:
    assert prepare("patch web-02 and web-03 tonight").clauses == ["patch web-02 and web-03 tonight"]
    assert prepare("reboot web-02 and disable user jdoe").clauses == [
        "reboot web-02",
        "disable user jdoe",
    ]
    assert prepare("reboot web-02. Then close TCK-1!").clauses == [
        "reboot web-02",
        "Then close TCK-1",
    ]


def test_prepare_keeps_patch_and_reboot_as_one_request() -> None:
    assert prepare("patch web-02 tonight and reboot them").clauses == [
        "patch web-02 tonight with reboot"
    ]


def test_prepare_does_not_split_ip_addresses() -> None:
    assert prepare("block 10.1.2.3 on fw").clauses == ["block 10.1.2.3 on fw"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rotate teh ldap credential", "rotate the ldap credential"),
        ("Teh web tier", "The web tier"),
        ("patch web-01 wiht KB5034441", "patch web-01 with KB5034441"),
        ("reboot web-02 adn web-03", "reboot web-02 and web-03"),
        ("hwo depends on erp", "hwo depends on erp"),  # who or how: left alone
        ("fill in the form", "fill in the form"),  # a real word, not "from"
        ("reboot teh-01 and host-teh", "reboot teh-01 and host-teh"),  # parts of names
        ("the thing", "the thing"),
    ],
)
def test_fix_typos_swapped_letters_in_function_words(text: str, expected: str) -> None:
    assert fix_typos(text) == expected


def test_fix_typos_never_turns_a_name_into_a_function_word() -> None:
    names = {"taht"}
    assert fix_typos("disable user taht", is_name=lambda w: w in names) == "disable user taht"
    assert fix_typos("disable user taht") == "disable user that"

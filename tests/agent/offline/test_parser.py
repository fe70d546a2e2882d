"""parse(): behaviour that a table of cases does not show well."""

from __future__ import annotations

import pytest

from agent.chat.offline import (
    HELP_TEXT,
    NOT_UNDERSTOOD,
    ConversationContext,
    Intent,
    ToolCall,
    TwinNameResolver,
    parse,
)
from tests.agent.offline.estate import make_resolver


@pytest.fixture(scope="module")
def resolver() -> TwinNameResolver:
    return make_resolver()


def test_parse_rejects_non_text(resolver: TwinNameResolver) -> None:
    with pytest.raises(TypeError, match="str"):
        parse(b"reboot web-02", resolver)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["", "   ", "<@U123ABC>", "thanks!"])
def test_parse_empty_message_says_not_understood(resolver: TwinNameResolver, text: str) -> None:
    result = parse(text, resolver)
    assert result.intent is Intent.UNKNOWN
    assert result.clarification == NOT_UNDERSTOOD


def test_not_understood_lists_examples(resolver: TwinNameResolver) -> None:
    text = parse("make it faster", resolver).clarification or ""
    assert "did not understand" in text and "why was CR-1 denied?" in text


def test_help_is_a_reply_not_a_question(resolver: TwinNameResolver) -> None:
    result = parse("help", resolver)
    assert result.reply == HELP_TEXT and result.clarification is None
    assert result.text == HELP_TEXT


def test_reason_is_the_request_in_its_own_words(resolver: TwinNameResolver) -> None:
    result = parse("<@U1> hey opshand, please reboot web-02 because it hangs", resolver)
    assert result.tool_calls[0].args["reason"] == (
        "Requested in chat: hey opshand, please reboot web-02 because it hangs"
    )


def test_reason_is_cut_when_long(resolver: TwinNameResolver) -> None:
    result = parse("reboot web-02 because " + "it hangs " * 80, resolver)
    reason = str(result.tool_calls[0].args["reason"])
    assert len(reason) < 340 and reason.endswith("…")


def test_fuzzy_correction_is_noted(resolver: TwinNameResolver) -> None:
    result = parse("reboot db-prdo-01", resolver)
    assert result.tool_calls[0].args["targets"] == ["host:contoso-ny-db-prod-01"]
    assert result.notes == ["I took `db-prdo-01` to mean contoso-ny-db-prod-01."]


def test_single_target_action_with_two_targets_asks(resolver: TwinNameResolver) -> None:
    result = parse("disable jdoe and asmith", resolver)
    assert result.tool_calls == []
    assert "one target at a time" in (result.clarification or "")


def test_answer_to_which_one_keeps_the_original_reason(resolver: TwinNameResolver) -> None:
    first = parse("reboot web-01 please, it is stuck", resolver)
    assert first.pending is not None and first.tool_calls == []
    context = ConversationContext.from_result(first)
    assert [c.name for c in context.candidates] == ["contoso-ny-web-01", "fabrikam-web-01"]
    second = parse("the first one", resolver, context=context)
    assert second.tool_calls[0].args["targets"] == ["host:contoso-ny-web-01"]
    assert second.tool_calls[0].args["reason"] == first.pending.args["reason"]


def test_context_targets_come_from_the_calls(resolver: TwinNameResolver) -> None:
    result = parse("patch web-02 and web-03", resolver)
    context = ConversationContext.from_result(result)
    assert context.last_intent is Intent.PROPOSE_CHANGE
    assert context.last_targets == ["host:contoso-ny-web-02", "host:contoso-ny-web-03"]
    assert context.pending is None


def test_follow_up_of_a_path_asks_for_a_full_sentence(resolver: TwinNameResolver) -> None:
    context = ConversationContext(
        last_intent=Intent.PATH,
        last_tool_calls=[ToolCall(name="twin_path", args={"source": "a", "target": "b"})],
    )
    result = parse("what about web-03?", resolver, context=context)
    assert result.tool_calls == []
    assert "full sentence" in (result.clarification or "")


def test_follow_up_keeps_service_restart_host(resolver: TwinNameResolver) -> None:
    first = parse("restart contoso-erp on contoso-ny-app-01", resolver)
    second = parse("and contoso-web too", resolver, context=ConversationContext.from_result(first))
    assert second.tool_calls[0].args["targets"] == ["service:contoso-web"]
    assert second.tool_calls[0].args["params"] == {"host": "host:contoso-ny-app-01"}


def test_two_questions_in_one_message_ask_which(resolver: TwinNameResolver) -> None:
    result = parse("show web-02. what depends on contoso-erp?", resolver)
    assert result.intent is Intent.CLARIFY
    assert "“show web-02”" in (result.clarification or "")


def test_the_same_question_twice_is_one(resolver: TwinNameResolver) -> None:
    result = parse("show web-02. show web-02!", resolver)
    assert [c.args for c in result.tool_calls] == [{"entity": "host:contoso-ny-web-02"}]


def test_tier_of_one_client(resolver: TwinNameResolver) -> None:
    result = parse("reboot contoso's web tier tonight", resolver)
    assert result.tool_calls[0].args["targets"] == [
        f"host:contoso-ny-web-0{n}" for n in range(1, 5)
    ]


def test_unknown_tier_is_unresolved(resolver: TwinNameResolver) -> None:
    result = parse("patch the mail tier", resolver)
    assert [u.mention for u in result.unresolved] == ["mail tier"]


def test_section_sign_cannot_point_at_a_quote(resolver: TwinNameResolver) -> None:
    result = parse("comment on TCK-1042: §q5§ and §q0§", resolver)
    assert result.tool_calls[0].args["params"] == {"text": "q5 and q0"}


def test_overlong_request_is_refused_but_long_quotes_are_fine(resolver: TwinNameResolver) -> None:
    long_request = parse("reboot web-02 " + "now " * 600, resolver)
    assert long_request.tool_calls == [] and "characters long" in (long_request.clarification or "")
    pasted = parse("escalate TCK-1042\n```\n" + "log line\n" * 800 + "```", resolver)
    assert [c.args["action"] for c in pasted.tool_calls] == ["ticket.escalate"]


def _fleet_resolver(web: int, endpoints: int) -> TwinNameResolver:
    hosts = [
        (f"host:acme-web-{n:02d}", "host", f"acme-web-{n:02d}", {"client": "acme", "role": "web"})
        for n in range(1, web + 1)
    ] + [
        (
            f"host:zeta-ws-{n:02d}",
            "host",
            f"zeta-ws-{n:02d}",
            {"client": "zeta", "role": "endpoint"},
        )
        for n in range(1, endpoints + 1)
    ]
    clients = [(f"client:{c}", "client", c.title(), {"client": c}) for c in ("acme", "zeta")]
    return TwinNameResolver([*clients, *hosts])


def test_parse_all_servers_is_bounded_by_max_targets() -> None:
    from agent.chat import MAX_TARGETS

    many = _fleet_resolver(MAX_TARGETS + 5, endpoints=40)
    result = parse("patch all servers", many)
    assert result.tool_calls == []
    assert f"`all servers` is {MAX_TARGETS + 5} hosts" in (result.clarification or "")
    assert f"at most {MAX_TARGETS}" in (result.clarification or "")
    # "servers" leaves the endpoints out; "hosts" takes them too
    few = _fleet_resolver(3, endpoints=4)
    [call] = parse("patch all servers", few).tool_calls
    assert call.args["targets"] == ["host:acme-web-01", "host:acme-web-02", "host:acme-web-03"]
    [call] = parse("reboot all zeta hosts", few).tool_calls
    assert len(call.args["targets"]) == 4
    assert parse("reboot all zeta servers", few).unresolved  # zeta has no servers


def test_parse_function_word_typo_spares_a_name() -> None:
    r = TwinNameResolver(
        [
            ("identity:taht", "identity", "taht", {}),
            ("identity:jdoe", "identity", "jdoe", {}),
        ]
    )
    [call] = parse("disable user taht", r).tool_calls
    assert call.args["targets"] == ["identity:taht"]
    [call] = parse("disable teh user jdoe", r).tool_calls
    assert call.args["targets"] == ["identity:jdoe"]

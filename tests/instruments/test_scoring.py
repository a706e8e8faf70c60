"""Scoring against the published rules: hand-computed cases, missing and reversed items, flags."""

from __future__ import annotations

import pytest

from instruments.catalogue import Catalogue
from instruments.scoring import AnswerError, difference, score


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue()


def phq(*values: int) -> dict[str, float]:
    return {f"q{i}": v for i, v in enumerate(values, start=1)}


def test_phq9_total_band_and_the_difficulty_item(catalogue: Catalogue) -> None:
    phq9 = catalogue.get("phq9")
    result = score(phq9, phq(1, 2, 0, 3, 1, 0, 2, 1, 0))
    assert result.value("total") == 10
    assert result.scores["total"].band == "moderate"
    assert result.missing == ["q10"]  # asked because the total is above 0
    assert not result.flags
    done = score(phq9, {**phq(1, 2, 0, 3, 1, 0, 2, 1, 0), "q10": 2})
    assert done.complete and done.value("total") == 10  # the difficulty is not in the total
    nothing = score(phq9, phq(0, 0, 0, 0, 0, 0, 0, 0, 0))
    assert nothing.complete and nothing.value("total") == 0 and "q10" not in nothing.asked
    assert nothing.scores["total"].band == "minimal"
    for total, band in ((4, "minimal"), (5, "mild"), (14, "moderate"), (15, "moderately severe"),
                        (20, "severe"), (27, "severe")):
        values = [3] * (total // 3) + [total % 3] + [0] * 9
        assert score(phq9, phq(*values[:9])).scores["total"].band == band, total


def test_phq9_item9_raises_a_risk_flag_and_zero_is_never_called_safe(
        catalogue: Catalogue) -> None:
    phq9 = catalogue.get("phq9")
    once = score(phq9, phq(0, 0, 0, 0, 0, 0, 0, 0, 1))
    assert [f.id for f in once.flags] == ["item9_endorsed"]
    assert once.flags[0].level == "risk" and once.flags[0].requires_acknowledgement
    often = score(phq9, phq(0, 0, 0, 0, 0, 0, 0, 0, 3))
    assert [f.id for f in often.flags] == ["item9_endorsed", "item9_frequent"]
    assert often.flags[1].level == "high_risk"
    zero = score(phq9, phq(3, 3, 3, 3, 3, 3, 3, 3, 0))
    assert not zero.flags
    text = " ".join(phq9.notes + [f.message for f in phq9.flags]).lower()
    assert "not evidence of safety" in text and "is safe" not in text


def test_phq9_with_a_missing_item_has_no_total(catalogue: Catalogue) -> None:
    answers = phq(1, 1, 1, 1, 1, 1, 1, 1, 1)
    del answers["q4"]
    result = score(catalogue.get("phq9"), answers)
    assert result.value("total") is None and "q4" in result.missing


@pytest.mark.parametrize(("item", "value", "message"), [
    ("q1", 4, r"phq9 item q1: 4 is not an answer on its scale \(0 to 3\)"),
    ("q2", 1.5, r"phq9 item q2: 1.5 is not an answer"),
    ("q2", -1, r"phq9 item q2: -1 is not"),
    ("q11", 1, r"phq9: no item 'q11'"),
])
def test_an_answer_off_the_scale_is_refused_naming_the_item(
        catalogue: Catalogue, item: str, value: float, message: str) -> None:
    with pytest.raises(AnswerError, match=message):
        score(catalogue.get("phq9"), {item: value})


def test_ssq_weighted_subscales_and_total_by_hand(catalogue: Catalogue) -> None:
    ssq = catalogue.get("ssq")
    subscales = {s.id: set(s.items) for s in ssq.scores if not s.of_scores}
    assert all(len(items) == 7 for items in subscales.values())
    double = [i.id for i in ssq.items if sum(i.id in s for s in subscales.values()) == 2]
    assert double == ["s1", "s5", "s8", "s9", "s11"]
    answers = {f"s{i}": 0 for i in range(1, 17)} | {"s1": 1, "s5": 2, "s8": 3, "s12": 1}
    result = score(ssq, answers)
    # Nausea: general discomfort 1 + nausea 3 = 4; oculomotor: discomfort 1 + focusing 2 = 3;
    # disorientation: focusing 2 + nausea 3 + dizzy (eyes open) 1 = 6.
    assert result.value("nausea") == pytest.approx(4 * 9.54)
    assert result.value("oculomotor") == pytest.approx(3 * 7.58)
    assert result.value("disorientation") == pytest.approx(6 * 13.92)
    assert result.value("total") == pytest.approx((4 + 3 + 6) * 3.74)
    before = score(ssq, {f"s{i}": 0 for i in range(1, 17)} | {"s2": 1})
    change = difference(before, result)
    assert change["total"] == pytest.approx((13 - 1) * 3.74)
    assert change["oculomotor"] == pytest.approx((3 - 1) * 7.58)
    gap = dict(answers)
    del gap["s16"]
    assert score(ssq, gap).value("total") is None  # no pro-rating


def test_wai_sr_subscales_need_all_their_items(catalogue: Catalogue) -> None:
    wai = catalogue.get("wai_sr")
    answers = {f"q{i}": (i % 5) + 1 for i in range(1, 13)}
    result = score(wai, answers)
    assert result.value("task") == answers["q1"] + answers["q2"] + answers["q10"] + answers["q12"]
    assert result.value("bond") == answers["q3"] + answers["q5"] + answers["q7"] + answers["q9"]
    assert result.value("goal") == answers["q4"] + answers["q6"] + answers["q8"] + answers["q11"]
    assert result.value("total") == sum(answers.values())
    assert result.value("mean") == pytest.approx(sum(answers.values()) / 12)
    del answers["q3"]
    partial = score(wai, answers)
    assert partial.value("bond") is None and partial.value("total") is None
    assert partial.value("task") is not None


def test_reversed_items_arm5_haq2_and_seq(catalogue: Catalogue) -> None:
    arm = score(catalogue.get("arm5"), {"q1": 7, "q2": 6, "q3": 2, "q4": 5, "q5": 4})
    assert arm.value("mean") == pytest.approx((7 + 6 + (8 - 2) + 5 + 4) / 5)
    haq = score(catalogue.get("haq2"), {f"q{i}": 6 for i in range(1, 20)})
    assert haq.value("total") == 14 * 6 + 5 * (7 - 6)
    seq = catalogue.get("seq")
    answers = {f"q{i}": 4 for i in range(1, 22)} | {"q2": 6, "q5": 2, "q6": 5, "q10": 7,
                                                     "q11": 3}
    result = score(seq, answers)
    # Smoothness = easy + (8 - tense) + pleasant + smooth + (8 - uncomfortable), over 5.
    assert result.value("smoothness") == pytest.approx((6 + 6 + 5 + 7 + 5) / 5)
    assert result.scores["smoothness"].verified
    assert not result.scores["depth"].verified  # shown as unverified wherever it is shown


def test_srs_decimal_scale_and_its_flag(catalogue: Catalogue) -> None:
    srs = catalogue.get("srs")
    low = score(srs, {"relationship": 9.1, "goals_topics": 8.0, "approach_method": 9.5,
                      "overall": 8.7})
    assert low.value("total") == pytest.approx(35.3)
    assert [f.id for f in low.flags] == ["alliance_check"]
    high = score(srs, dict.fromkeys(("relationship", "goals_topics", "approach_method",
                                     "overall"), 9.5))
    assert high.value("total") == pytest.approx(38.0) and not high.flags
    with pytest.raises(AnswerError, match=r"srs item overall: 9.05 is not an answer on its "
                                          r"scale \(0 to 10 in steps of 0.1\)"):
        score(srs, {"overall": 9.05})


def test_alliance_check_prorates_one_item_and_asks_about_tension_only_if_any(
        catalogue: Catalogue) -> None:
    check = catalogue.get("vret_alliance_check")
    assert not check.validated and "not a validated instrument" in check.name
    result = score(check, {"together": 8, "rationale": 6, "safe_to_say": 7, "guide_helpful": 9,
                           "tension": 0})
    assert result.value("alliance") == pytest.approx((8 + 6 + 7) / 3)
    assert result.scores["alliance"].prorated
    assert result.missing == ["own_goals"]
    assert "tension_strength" not in result.asked and not result.flags
    two_missing = score(check, {"together": 8, "rationale": 6, "tension": 0})
    assert two_missing.value("alliance") is None
    tense = score(check, {"together": 8, "rationale": 6, "safe_to_say": 7, "own_goals": 5,
                          "guide_helpful": 9, "tension": 1, "tension_strength": 3})
    assert tense.missing == ["tension_resolved"]
    assert [f.id for f in tense.flags] == ["tension_reported"]
    resolved_little = score(check, {"tension": 1, "tension_strength": 4, "tension_resolved": 2})
    assert {f.id for f in resolved_little.flags} == {"tension_reported", "tension_unresolved"}
    with pytest.raises(AnswerError, match=r"0 \(no\) or 1 \(yes\)"):
        score(check, {"tension": 2})


def test_the_therapist_check_mirrors_the_clients_and_flags_tension_left_unaddressed(
        catalogue: Catalogue) -> None:
    therapist = catalogue.get("vret_therapist_check")
    client = catalogue.get("vret_alliance_check")
    assert therapist.respondent == "therapist" and not therapist.validated
    shared = ["together", "rationale", "safe_to_say", "own_goals"]
    assert [i.id for i in therapist.items][:4] == shared == [i.id for i in client.items][:4]
    calm = score(therapist, {"together": 9, "rationale": 8, "safe_to_say": 6, "own_goals": 7,
                             "tension": 0})
    assert calm.value("alliance") == pytest.approx(7.5) and not calm.flags
    assert "tension_addressed" not in calm.asked
    unaddressed = score(therapist, {"together": 5, "rationale": 6, "safe_to_say": 4,
                                    "own_goals": 5, "tension": 1, "tension_addressed": 2})
    assert [f.id for f in unaddressed.flags] == ["tension_unaddressed"]
    addressed = score(therapist, {"tension": 1, "tension_addressed": 4})
    assert not addressed.flags and addressed.value("alliance") is None  # four items missing

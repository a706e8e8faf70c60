"""Priorities: a safety line interrupts anything at once; the therapist interrupts the script."""

from __future__ import annotations

from avatar.speech_queue import Priority, SpeechQueue, Utterance, speaking_time


def test_a_safety_line_interrupts_at_once_and_clears_what_waited() -> None:
    queue = SpeechQueue()
    chat = Utterance("Let's look at the view.", Priority.CHATTER)
    queue.push(chat, 0.0)
    queue.push(Utterance("How anxious are you?", Priority.SCHEDULED), 0.1)  # interrupts chat
    queue.push(Utterance("Notice the railing.", Priority.THERAPIST), 0.2)  # interrupts that
    queue.push(Utterance("Ask again later", Priority.SCHEDULED), 0.3)  # waits
    stop = Utterance("Everything has stopped. You are safe.", Priority.SAFETY)
    queue.push(stop, 0.4)
    assert queue.current is stop and stop.started_s == 0.4  # the same call: the same frame
    assert queue.waiting == []
    assert [u.text for u in queue.interrupted][-1] == "Notice the railing."


def test_lines_wait_their_turn_by_priority_then_arrival() -> None:
    queue = SpeechQueue()
    first = Utterance("One.", Priority.THERAPIST)
    queue.push(first, 0.0)
    queue.push(Utterance("Scheduled.", Priority.SCHEDULED), 0.0)
    queue.push(Utterance("Therapist again.", Priority.THERAPIST), 0.0)
    queue.push(Utterance("Chatter is dropped.", Priority.CHATTER), 0.0)
    said = []
    t = 0.0
    while queue.current is not None:
        said.append(queue.current.text)
        t += queue.current.duration_s
        queue.update(t)
    assert said == ["One.", "Therapist again.", "Scheduled."]


def test_speaking_time_grows_with_the_words() -> None:
    assert speaking_time("Hello.") < speaking_time("Hello, I am glad that you are here today.")
    assert 2.0 < speaking_time("How anxious do you feel right now, from 0 to 100?") < 6.0


def test_a_later_safety_line_interrupts_an_earlier_one_and_nothing_else_waits() -> None:
    queue = SpeechQueue()
    queue.push(Utterance("Breathe in slowly with me.", Priority.SAFETY), 0.0)
    queue.push(Utterance("Shall we step up?", Priority.SCHEDULED), 0.1)  # waits behind it
    stop = Utterance("Everything has stopped. You are safe.", Priority.SAFETY)
    queue.push(stop, 0.2)
    assert queue.current is stop and queue.waiting == []


def test_a_prompt_whose_question_closed_is_not_asked_late() -> None:
    queue = SpeechQueue()
    queue.push(Utterance("A long explanation from the therapist.", Priority.THERAPIST), 0.0)
    queue.push(Utterance("Shall we step up?", Priority.SCHEDULED, tag="checkin-3"), 0.1)
    (dropped,) = queue.drop("checkin-3")  # the client answered with a key meanwhile
    assert dropped.text == "Shall we step up?" and queue.waiting == []


def test_the_journal_logs_lines_when_said_and_those_cut_off_or_never_said() -> None:
    q = SpeechQueue()
    first = Utterance("Let us begin slowly.", Priority.THERAPIST)
    second = Utterance("How are you feeling?", Priority.THERAPIST)
    prompt = Utterance("On a scale from 0 to 100?", Priority.SCHEDULED, tag="checkin-1")
    chatter = Utterance("Nice view.", Priority.CHATTER)
    q.push(first, 0.0)
    q.push(second, 0.5)          # waits for the first
    q.push(prompt, 0.6)          # waits too
    q.push(chatter, 0.7)         # never queued behind anything
    assert [(o, u.text) for o, u, _ in q.journal] == [
        ("started", first.text), ("dropped", chatter.text)]
    q.journal.clear()
    q.update(first.duration_s + 0.01)  # the first is done: the second begins now
    assert [(o, u) for o, u, _ in q.journal] == [("started", second)]
    assert q.journal[0][2] == first.duration_s + 0.01
    q.journal.clear()
    q.drop("checkin-1", 4.0)     # the question was answered before its prompt came up
    grounding = Utterance("You stopped, and that is fine.", Priority.SAFETY)
    q.push(grounding, 4.5)
    assert [(o, u) for o, u, _ in q.journal] == [
        ("dropped", prompt), ("interrupted", second), ("started", grounding)]
    q.journal.clear()
    q.clear(5.0)                 # the session ends mid-sentence
    assert [(o, u) for o, u, _ in q.journal] == [("interrupted", grounding)]

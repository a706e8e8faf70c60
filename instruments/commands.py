"""``vret instruments``: list what can be given, show a definition, score answers, check a
site's text pack before installing it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from instruments.catalogue import Catalogue
from instruments.packs import check_pack, load_pack
from instruments.scoring import AnswerError, score


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``vret instruments`` on the CLI's sub-command parser."""
    p = sub.add_parser("instruments", help="list, show or score questionnaires; check packs",
                       description=run.__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=["list", "show", "score", "check-pack"])
    p.add_argument("target", nargs="?", metavar="ID_OR_FILE",
                   help="show/score: an instrument id (see list); check-pack: a pack file")
    p.add_argument("answers", nargs="*", metavar="ITEM=VALUE",
                   help="score: answers, e.g. q1=2 q2=0")
    p.add_argument("--instrument-packs", type=Path, action="append", default=[],
                   metavar="DIR", help="a folder of the site's licensed text packs "
                   "(repeatable; also VRET_INSTRUMENT_PACKS)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """List the instruments and whether each can be given (or why not), show one's structure,
    score a set of answers by its rules, or check a text pack against its definition.

    examples:
      vret instruments list
      vret instruments show phq9
      vret instruments score phq9 q1=1 q2=2 q3=0 q4=3 q5=1 q6=0 q7=2 q8=1 q9=1 q10=1
      vret instruments check-pack site-packs/wai_sr.json
    """
    try:
        return _run(args)
    except KeyError as exc:  # an unknown instrument: one line naming the known ones
        raise ValueError(str(exc.args[0])) from None


def _run(args: argparse.Namespace) -> int:
    catalogue = Catalogue(args.instrument_packs)
    for problem in catalogue.problems():
        print(f"warning: {problem}")
    if args.action == "list":
        return _list(catalogue, args.json)
    if not args.target:
        raise ValueError(f"instruments {args.action}: name an instrument (or a pack file)")
    if args.action == "check-pack":
        pack = load_pack(Path(args.target))
        check_pack(pack, catalogue.get(pack.instrument), Path(args.target).name)
        print(f"{args.target}: fits {pack.instrument}/{pack.version} ({pack.language})")
        return 0
    instrument = catalogue.get(args.target)
    if args.action == "show":
        print(json.dumps(instrument.model_dump(mode="json"), indent=2) if args.json
              else _describe(catalogue, args.target))
        return 0
    answers: dict[str, float] = {}
    for pair in args.answers:
        key, sep, value = pair.partition("=")
        try:
            answers[key] = float(value)
        except ValueError:
            raise AnswerError(f"answer {pair!r}: expected ITEM=NUMBER") from None
        if not sep:
            raise AnswerError(f"answer {pair!r}: expected ITEM=NUMBER")
    result = score(instrument, answers)
    if args.json:
        print(json.dumps({"instrument": instrument.key, "complete": result.complete,
                          "missing": result.missing,
                          "scores": {k: v.__dict__ for k, v in result.scores.items()},
                          "flags": [f.__dict__ for f in result.flags]}, indent=2))
        return 0
    for value in result.scores.values():
        shown = "not scored (missing items)" if value.value is None else f"{value.value:g}"
        extra = [f"band: {value.band}"] if value.band else []
        extra += ["prorated"] if value.prorated else []
        extra += ["composition unverified"] if not value.verified else []
        detail = f" ({', '.join(extra)})" if extra else ""
        print(f"{value.id}: {shown}{detail}")
    for flag in result.flags:
        ack = " [needs a clinician's acknowledgement]" if flag.requires_acknowledgement else ""
        print(f"FLAG {flag.level}: {flag.message}{ack}")
    if result.missing:
        print(f"unanswered: {', '.join(result.missing)}")
    return 0


def _list(catalogue: Catalogue, as_json: bool) -> int:
    rows = catalogue.listing()
    if as_json:
        print(json.dumps([{"id": r.instrument.id, "version": r.instrument.version,
                           "name": r.instrument.name, "available": r.available,
                           "languages": list(r.languages), "reason": r.reason}
                          for r in rows], indent=2))
        return 0
    for r in rows:
        status = (f"available ({', '.join(r.languages)})" if r.available
                  else f"unavailable: {r.reason}")
        print(f"{r.instrument.id:22} {r.instrument.name}\n{'':22} {status}")
    return 0


def _describe(catalogue: Catalogue, instrument_id: str) -> str:
    instrument = catalogue.get(instrument_id)
    entry = catalogue.availability(instrument_id)
    lines = [f"{instrument.name} ({instrument.key})",
             f"respondent: {instrument.respondent}; given: {', '.join(instrument.timing)}",
             f"licence: {instrument.licence.note}"]
    if not instrument.validated:
        lines.append("NOT a validated instrument")
    lines.append(f"text: {', '.join(entry.languages) if entry.available else entry.reason}")
    for item in instrument.items:
        scale = instrument.scale_of(item)
        tags = (["reversed"] if item.reversed else []) + (
            [f"asked when {item.asked_when.item or item.asked_when.score} "
             f"{item.asked_when.op} {item.asked_when.value:g}"] if item.asked_when else [])
        tagged = f" [{', '.join(tags)}]" if tags else ""
        lines.append(f"  {item.number:>2}. {item.id} ({scale.describe()}){tagged}")
    for s in instrument.scores:
        parts = f"{s.method} of {', '.join(s.of_scores or s.items)}"
        mult = f" x {s.multiplier:g}" if s.multiplier != 1 else ""
        unverified = " (composition unverified)" if not s.verified else ""
        lines.append(f"  score {s.id} = {parts}{mult}{unverified}")
    for flag in instrument.flags:
        lines.append(f"  flag {flag.id} ({flag.level}): {flag.message}")
    lines += [f"  note: {note}" for note in instrument.notes]
    return "\n".join(lines)

"""Activate synsets by wnid or name, whole subtrees, or a preset (ilsvrc1k, imagenet21k)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from curation.presets import PRESETS, PresetError
from curation.services.synsets import SynsetLookupError, synsets_activate


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("synsets", nargs="*", help="wnids (n02084071) or names (dog.n.01)")
        parser.add_argument("--subtree", action="store_true", help="include every descendant")
        parser.add_argument("--preset", choices=sorted(PRESETS))
        parser.add_argument("--target", type=int, help="target number of images per synset")
        parser.add_argument("--deactivate", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            summary = synsets_activate(
                identifiers=options["synsets"],
                subtree=options["subtree"],
                preset=options["preset"],
                target=options["target"],
                active=not options["deactivate"],
            )
        except SynsetLookupError as exc:
            raise CommandError(
                "\n".join(
                    f"{k}: did you mean {', '.join(v) or '(no close match)'}?"
                    for k, v in exc.unknown.items()
                )
                + "\nnothing was changed"
            ) from exc
        except (ValueError, PresetError) as exc:
            raise CommandError(str(exc)) from exc
        verb = "deactivated" if options["deactivate"] else "activated"
        line = (
            f"{summary.matched:,} synsets matched; {summary.changed:,} {verb}, "
            f"{summary.already:,} already were"
        )
        if summary.target is not None:
            line += f"; target {summary.target} ({summary.target_changed:,} changed)"
        self.stdout.write(line)

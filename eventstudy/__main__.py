"""``python -m eventstudy``: the same as the ``eventstudy`` command."""

from eventstudy.cli import main

raise SystemExit(main())

"""Bundle entry point for the `pixelguard` command."""

from pixelguard.cli import main

raise SystemExit(main())

"""Bundle entry point for the `pixelguard-gui` app."""

from pixelguard.gui import main

raise SystemExit(main())

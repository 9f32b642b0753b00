from pixelguard.cli import main

raise SystemExit(main())

from journeytrace.cli import main

raise SystemExit(main())

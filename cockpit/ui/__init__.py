"""The Textual front end: screens, widgets, and the app that ties them to the engine's control
surface and metrics store. Nothing in `cockpit.engine` imports this package."""

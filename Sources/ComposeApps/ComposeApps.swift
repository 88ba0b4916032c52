// The compose-app bundle format, the app store and the engine runtime (see DESIGN.md).

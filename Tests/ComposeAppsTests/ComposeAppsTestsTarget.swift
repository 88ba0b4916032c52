// Tests of the ComposeApps module live in this folder.
